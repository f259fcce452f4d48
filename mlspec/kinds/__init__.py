"""The test kinds, one module each; importing this package registers them all.

`mlspec.language.kinds` is the registry the stages ask; it imports this package on first
use. A kind module may use every stage (check, compile, run), since nothing below
imports it by name.
"""

# The order is the order messages list kinds in ("`by` belongs in fairness tests").
from mlspec.kinds import behavioural, metrics, fairness, attack, load, data, drift  # noqa: F401, I001 (each registers itself)
