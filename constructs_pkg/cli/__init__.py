"""The ``shadow-test`` command line (entry point ``constructs_pkg.cli.main:main``).

Modules: ``main`` parses arguments and runs the commands, ``aws`` makes the
SageMaker and CloudWatch calls, ``verdict`` decides promote/hold from the
numbers, ``window`` computes the queried time windows, ``render`` prints and
serializes, ``chart`` draws the ``--png`` chart.
"""
