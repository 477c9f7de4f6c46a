"""Texts sized for SMS: GSM-7 (160 / 153 a segment) or UCS-2 (70 / 67), capped at max_segments with the
portal pointer kept, the NIK masked."""

from __future__ import annotations

import random

import pytest
from perlinsos_notify_sms import SmsChannel
from perlinsos_notify_sms.sizing import GSM7, UCS2, fit, gsm_friendly, mask_numbers, measure

from .conftest import outgoing, settings

PORTAL = "https://perlinsos.banyuwangikab.go.id"
NOT_ELIGIBLE = ("PKH: TIDAK LAYAK. Alasan utama: daya listrik rumah tercatat 2.200 VA, di atas batas 1.300 VA "
                "(sumber: PLN, per 1 Agustus 2025). NIK 3510********0001.")
MANY_REASONS = (NOT_ELIGIBLE + " Alasan lain: penghasilan tercatat Rp3.100.000 sebulan, di atas UMK Banyuwangi "
                "Rp2.810.139 (BPJS Ketenagakerjaan, per 31 Juli 2025); anggota keluarga memiliki mobil (Polri, "
                "per 1 Juli 2025); desil kesejahteraan 6, di atas batas 4 (DTSEN). Anda dapat mengajukan sanggah "
                "dalam 30 hari melalui pendamping, kantor desa, atau portal.")


def channel(**overrides) -> SmsChannel:
    return SmsChannel(settings(**({"portal_url": PORTAL} | overrides)))


# --- encoding and segments ---------------------------------------------------------------------


def test_indonesian_text_is_gsm7_in_one_segment():
    sms = measure("Selamat! Keluarga Anda LAYAK menerima PKH 2025. NIK 3510********0001.")
    assert (sms.encoding, sms.segments) == (GSM7, 1)


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3),
                                                  (460, 4), (918, 6)])
def test_gsm7_segments(length, segments):
    sms = measure(("Bansos PKH " * 100)[:length])
    assert (sms.encoding, sms.units, sms.segments) == (GSM7, length, segments)


def test_extension_characters_take_two_septets_and_stay_gsm7():
    sms = measure("Batas: Rp2.810.139 [UMK] ~ €" + "a" * 128)
    assert sms.encoding == GSM7
    assert (sms.units, sms.segments) == (28 + 4 + 128, 1)  # [, ], ~ and € count twice: 160 septets
    assert measure("a" * 158 + "€").segments == 1 and measure("a" * 159 + "€").segments == 2


def test_an_escape_pair_never_straddles_two_segments():
    # 306 septets would be two segments, but the € at the boundary moves whole into the second.
    sms = measure("a" * 152 + "€" + "a" * 152)
    assert (sms.units, sms.segments) == (306, 3)


@pytest.mark.parametrize("odd", ["🙏", "ł", "ꦧ", "你", "ę"])
def test_one_non_gsm_character_makes_the_whole_text_ucs2(odd):
    sms = measure("Terima kasih, data Anda sudah kami terima " + odd)
    assert sms.encoding == UCS2


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_ucs2_segments(length, segments):
    sms = measure("ł" * length)
    assert (sms.encoding, sms.units, sms.segments) == (UCS2, length, segments)


def test_emoji_take_two_units_and_are_never_split():
    assert measure("🙏" * 35).units == 70 and measure("🙏" * 35).segments == 1
    assert measure("a" * 69 + "🙏").segments == 2  # 71 units
    sms = measure("a" * 66 + "🙏" + "a" * 66)  # 134 units, but the pair cannot straddle unit 67
    assert (sms.units, sms.segments) == (134, 3)


def test_accented_latin_letters_of_gsm7_stay_gsm7():
    assert measure("Café Banyuwangi: é è ù ì ò Ç Ø Å Ñ Ü ß à").encoding == GSM7


def test_typographic_punctuation_is_made_gsm7():
    text = "Status \u201cTIDAK LAYAK\u201d \u2013 lihat portal\u2026 (Anda\u2019s)\u00a0ok"
    assert measure(text).encoding == UCS2
    assert gsm_friendly(text) == 'Status "TIDAK LAYAK" - lihat portal... (Anda\'s) ok'
    assert measure(gsm_friendly(text)).encoding == GSM7


# --- masking and the portal pointer -----------------------------------------------------------


def test_nik_is_masked():
    assert mask_numbers("NIK 3510151203800001, KK 3510150101200003.") == "NIK 3510********0001, KK 3510********0003."
    assert mask_numbers("NIK 3510********0001 HP +6281234567890") == "NIK 3510********0001 HP +6281234567890"
    sms = channel().compose(outgoing("+6281234567890", "PKH: LAYAK. NIK 3510151203800001."))
    assert "3510151203800001" not in sms.text and "3510********0001" in sms.text


def test_portal_url_is_appended_when_absent():
    sms = channel().compose(outgoing("+6281234567890", "PKH: LAYAK. NIK 3510********0001."))
    assert sms.text == f"PKH: LAYAK. NIK 3510********0001.\nRincian: {PORTAL}"
    english = channel().compose(outgoing("+6281234567890", "PKH: ELIGIBLE.", language="en"))
    assert english.text == f"PKH: ELIGIBLE.\nDetails: {PORTAL}"


@pytest.mark.parametrize("written", [PORTAL, PORTAL + "/", "perlinsos.banyuwangikab.go.id", PORTAL.upper()])
def test_portal_url_is_not_repeated(written):
    short = f"PKH: LAYAK. Rincian: {written}"
    assert channel().compose(outgoing("+6281234567890", short)).text == short


def test_without_a_portal_setting_the_text_is_sent_as_given():
    short = "PKH: LAYAK. NIK 3510********0001."
    assert SmsChannel(settings()).compose(outgoing("+6281234567890", short)).text == short


def test_short_message_is_untouched():
    sms = channel().compose(outgoing("+6281234567890", NOT_ELIGIBLE))
    assert not sms.shortened and sms.segments == 2 and sms.text.startswith(NOT_ELIGIBLE)


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_long_text_is_capped_and_keeps_the_portal_pointer(max_segments):
    sms = channel(max_segments=max_segments).compose(outgoing("+6281234567890", MANY_REASONS))
    assert sms.shortened and sms.encoding == GSM7 and sms.segments <= max_segments
    assert sms.text.endswith(f"...\nRincian: {PORTAL}")
    assert sms.text.startswith("PKH: TIDAK LAYAK.")
    # As much text as fits: one more word would not.
    assert sms.units > {1: 130, 2: 280, 3: 430}[max_segments]


def test_platform_pointer_with_its_label_survives_whole():
    short = MANY_REASONS + f" Info lengkap & sanggah: {PORTAL}/sanggah"
    sms = channel(max_segments=2).compose(outgoing("+6281234567890", short))
    assert sms.text.endswith(f"... Info lengkap & sanggah: {PORTAL}/sanggah") and sms.segments <= 2


def test_ucs2_text_is_capped_with_the_ellipsis_character():
    sms = channel(max_segments=2).compose(outgoing("+6281234567890", "🙏 " + MANY_REASONS))
    assert sms.encoding == UCS2 and sms.segments <= 2 and sms.units > 120
    assert sms.text.endswith(f"\u2026\nRincian: {PORTAL}")


def test_cut_ends_on_a_whole_word():
    sms = channel(max_segments=1).compose(outgoing("+6281234567890", MANY_REASONS))
    head = sms.text.split("...")[0]
    assert MANY_REASONS.startswith(head) and MANY_REASONS[len(head)] in " ,.;()"


def test_a_url_other_than_the_portal_is_the_pointer_when_no_portal_is_set():
    text = MANY_REASONS + " https://s.id/bwi"
    sms = fit(text, 1)
    assert sms.segments == 1 and sms.text.endswith("... https://s.id/bwi")


def test_without_any_url_the_text_is_simply_cut():
    sms = fit(MANY_REASONS, 1)
    assert sms.segments == 1 and sms.text.endswith("...") and sms.units <= 160


def test_random_texts_always_fit_and_keep_the_pointer():
    rng = random.Random(2025)
    words = MANY_REASONS.split() + ["🙏", "€", "[UMK]", "ł"]
    for _ in range(300):
        max_segments = rng.randint(1, 6)
        short = " ".join(rng.choice(words) for _ in range(rng.randint(1, 250)))
        sms = channel(max_segments=max_segments).compose(outgoing("+6281234567890", short))
        assert sms.segments <= max_segments, (max_segments, short)
        assert sms.text.endswith(PORTAL), short
        assert measure(sms.text).segments == sms.segments and measure(sms.text).encoding == sms.encoding


def test_a_pointer_too_long_for_the_room_keeps_its_url():
    url = "https://perlinsos.banyuwangikab.go.id/sanggah/" + "x" * 100  # 146 characters
    short = "PKH: TIDAK LAYAK. Rincian lengkap: " + url
    sms = fit(short, 1, link=url)
    assert sms.segments == 1 and sms.text.startswith("PKH") and sms.text.endswith("... " + url)
