"""Recipients: a person's phone → E.164, or Undeliverable with a clear reason that never holds the number."""

from __future__ import annotations

import re

import pytest
from perlinsos.errors import Undeliverable
from perlinsos_notify_sms import SmsChannel
from perlinsos_notify_sms.numbers import mask_phone

from .conftest import settings

CHANNEL = SmsChannel(settings())


@pytest.mark.parametrize("raw", ["081234567890", "+6281234567890", "+62 812-3456-7890", "62 812 3456 7890",
                                 "(0812) 3456.7890", " 0812 3456 7890 ", "0062 812 3456 7890"])
def test_national_and_international_forms_become_e164(raw):
    assert CHANNEL.recipient_for({"phone": raw, "name": "Siti Aminah", "nik": "3510214508920002"}) == "+6281234567890"


@pytest.mark.parametrize("raw", ["+6285712345678", "0895 1234 5678", "0813-1234-567", "+628111234567"])
def test_operator_ranges(raw):
    number = CHANNEL.recipient_for({"phone": raw})
    assert re.fullmatch(r"\+628[1-35-9]\d{7,10}", number)


@pytest.mark.parametrize("person", [{"phone": None}, {"phone": ""}, {"phone": "   "}, {}, {"name": "Budi"}])
def test_missing_number(person):
    with pytest.raises(Undeliverable) as caught:
        CHANNEL.recipient_for(person)
    assert str(caught.value) == "no mobile number on record"


INVALID = {
    # raw number → words the reason must contain
    "0333 424242": "landline",  # Banyuwangi's area code 0333: a fixed line
    "+62 333 424242": "landline",
    "021 5795 1234": "landline",  # Jakarta
    "+1 415 555 2671": "Indonesian",  # USA
    "+60 12 345 6789": "Indonesian",  # Malaysia
    "0812-ABC-7890": "digits",
    "0812345": "length",
    "08123456789012345": "length",
    "0804 1234 5678": "prefix",  # 080x is not a mobile range
    "+": "digits",
}


@pytest.mark.parametrize("raw", list(INVALID))
def test_invalid_numbers_are_undeliverable_with_a_clear_reason(raw):
    with pytest.raises(Undeliverable) as caught:
        CHANNEL.recipient_for({"phone": raw, "nik": "3510151203800001"})
    reason = str(caught.value)
    assert reason.startswith("invalid mobile number: ") and INVALID[raw] in reason
    digits = re.sub(r"\D", "", raw)
    assert not any(run in reason for run in re.findall(r"\d{3,}", raw)), "the reason echoes the number"
    assert (not digits or digits[-4:] not in reason) and "3510151203800001" not in reason
    assert caught.value.__cause__ is None  # no chained exception carrying the input either


def test_a_number_that_is_not_text():
    with pytest.raises(Undeliverable, match="not text"):
        CHANNEL.recipient_for({"phone": 81234567890})


def test_mask_phone():
    assert mask_phone("+6281234567890") == "+62812*****890"
    assert mask_phone("081234567890") == "08123****890"
    assert mask_phone(None) == "-" and mask_phone("+62") == "***"
    assert "4567" not in mask_phone("+6281234567890")
