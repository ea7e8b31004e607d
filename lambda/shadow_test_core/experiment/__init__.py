"""The deploy-time job: settings, rules, the spec, pure decisions, SageMaker I/O and the custom-resource handler."""
