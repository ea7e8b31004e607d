"""Every IAM statement ``ShadowTestExperiment`` and its provider create, each declared once.

Each statement is a :class:`~constructs_pkg.security.declaration.Statement`, plain data:
whose policy, the actions, the resources, the conditions, why, why a wildcard cannot be avoided,
when it exists, and which aws-cdk-lib API writes it when this library does not. From these
declarations come

* the statements on the roles and policies: the provider and the experiment write theirs with
  :func:`~constructs_pkg.security.declaration.policy_statement`, and make aws-cdk-lib grants
  with the declared actions (``written_by``);
* the IAM table of docs/security.md (``.ci/security_doc.py``);
* the ``AwsSolutions-IAM5`` acknowledgements of the declared wildcards, with their reasons
  (constructs_pkg/security/acknowledgements.py);
* tests/test_security.py's check that every synthesized statement is one of them.

Patterns use ``{partition}``, ``{region}`` and ``{account}`` (the stack's), ``{given}`` (a name, ARN
or resource passed as a prop; never a wildcard), ``{prefix}`` (an optional key prefix ending with
``/``), ``{experiment}`` (the experiment construct's path) and ``<path.Attribute>`` (an attribute of
the constructs' own resource at that path).
"""

from __future__ import annotations

from constructs_pkg.security.conclusion_roles import CONCLUSION_STATEMENTS
from constructs_pkg.security.declaration import Statement
from constructs_pkg.security.experiment_roles import EXPERIMENT_STATEMENTS
from constructs_pkg.security.provider_roles import PROVIDER_STATEMENTS

#: Every statement, in the order of docs/security.md's table.
STATEMENTS: tuple[Statement, ...] = (*PROVIDER_STATEMENTS, *EXPERIMENT_STATEMENTS, *CONCLUSION_STATEMENTS)
