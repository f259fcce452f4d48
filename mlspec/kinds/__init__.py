"""The test kinds, one module each; importing a module registers its kinds.

`mlspec.language.kinds` is the registry the stages ask. It imports every module listed
here when all kinds are asked for (checking a spec) or an unknown keyword is looked up;
a run from a cached plan imports only the modules of the kinds its plan uses. A kind
module may use every stage (check, compile, run), since nothing below imports it by name.
"""

# The order is the order messages list kinds in ("`by` belongs in fairness tests").
MODULES = ("behavioural", "metrics", "fairness", "attack", "load", "data", "drift")
