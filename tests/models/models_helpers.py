"""Constants shared by the model tests (a module of its own: `conftest` names are ambiguous)."""

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
LABEL = "employed"
SMALL = (
    "dataset: employment\n"
    "deltas: {include: [base]}\n"
    'where: "id < 4000"\n'
    "split: {seed: 1, fractions: {train: 0.75, test: 0.25}}\n"
)
