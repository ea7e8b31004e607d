"""The ``shadow-test`` command line (entry point ``constructs_pkg.cli.main:main``).

Modules: ``main`` parses arguments and runs the commands, ``aws`` makes the SageMaker and
CloudWatch calls, ``window`` computes the queried time windows, ``render`` prints, ``chart`` draws
the ``--png`` chart. The verdict itself, and the per-period data it is computed from, live in the
core (``shadow_test_core.verdict.judge``, ``shadow_test_core.verdict.period_data``) so a Lambda function can run
them too.
"""
