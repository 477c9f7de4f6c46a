"""Eligibility criteria of the Banyuwangi pilot (DOMAIN.md reason codes) and the facts they read.

``collect_facts`` reads the registrants' facts through IKD's consented facts API;
``eligibility_criteria`` gives one criterion per reason code with the pilot's limits. The entry
point (``criteria = "perlinsos_criteria"``) names this package, so the hook implementations are
attributes of it. See README.md.
"""

from perlinsos_criteria.criteria import (
    AlreadyRegistered,
    ElectricityAboveLimit,
    IncomeAboveLimit,
    NikInvalid,
    OutsidePilotRegion,
    OwnsCar,
    StateEmployee,
    UnusualTransactions,
    WelfareDecileAboveLimit,
)
from perlinsos_criteria.plugin import collect_facts, eligibility_criteria, identity_providers, plugin_settings_schema
from perlinsos_criteria.settings import CriteriaSettings

__all__ = [
    "AlreadyRegistered",
    "CriteriaSettings",
    "ElectricityAboveLimit",
    "IncomeAboveLimit",
    "NikInvalid",
    "OutsidePilotRegion",
    "OwnsCar",
    "StateEmployee",
    "UnusualTransactions",
    "WelfareDecileAboveLimit",
    "collect_facts",
    "eligibility_criteria",
    "identity_providers",
    "plugin_settings_schema",
]
