"""Each IAM statement once: the declarations, the policies and grants written from them, reading them back, and the acknowledgements of their wildcards."""
