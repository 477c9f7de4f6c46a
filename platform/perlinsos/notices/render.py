"""A village notice as CSV (for the village office's own printing or spreadsheet) and as a
printable A4 PDF (fpdf2, pure Python). Texts are Bahasa Indonesia: the notice hangs in a village
hall; a training pilot's notice is headed LATIHAN on every page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta, timezone

from fpdf import FPDF

from perlinsos.notices import Notice

#: WIB: Banyuwangi's (and the notices') clock; a deadline is printed as the village reads it
WIB = timezone(timedelta(hours=7), "WIB")
PROGRAMMES = {"PKH": "Program Keluarga Harapan (PKH)", "SEMBAKO": "Program Sembako",
              "PBI_JK": "Penerima Bantuan Iuran Jaminan Kesehatan (PBI-JK)"}
HOW_TO_APPEAL = ("Jika Anda merasa berhak tetapi tidak tercantum, atau ada data yang salah, ajukan sanggah "
                 "melalui portal Perlinsos (IKD), melalui pendamping sosial, atau datang ke kantor desa "
                 "membawa KTP dan KK.")


def deadline(notice: Notice) -> str:
    if notice.appeal_deadline is None:
        return "-"
    return notice.appeal_deadline.astimezone(WIB).strftime("%d-%m-%Y %H:%M WIB")


def _title(notice: Notice) -> str:
    prefix = "LATIHAN - " if notice.training else ""
    return f"{prefix}Pengumuman Penerima {PROGRAMMES.get(notice.programme, notice.programme)}"


def as_csv(notice: Notice) -> bytes:
    """One row per household (no, name, masked NIK), after a header block saying what and until when."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    if notice.training:
        w.writerow(["LATIHAN", "Bukan pengumuman resmi: data sintetis untuk pelatihan"])
    w.writerow(["pengumuman", _title(notice)])
    w.writerow(["uji_coba", notice.pilot])
    w.writerow(["desa", f"{notice.village_name} ({notice.village_code})"])
    w.writerow(["batas_sanggah", deadline(notice)])
    w.writerow(["cara_sanggah", HOW_TO_APPEAL])
    w.writerow([])
    w.writerow(["no", "nama", "nik"])
    for i, h in enumerate(notice.households, 1):
        w.writerow([i, h.name, h.nik])
    # utf-8-sig: spreadsheet programs on office PCs read the names' accents right
    return out.getvalue().encode("utf-8-sig")


class _Page(FPDF):
    def __init__(self, notice: Notice):
        super().__init__(format="A4")
        self.notice = notice

    def header(self) -> None:
        if self.notice.training:
            self.set_font("Helvetica", "B", 14)
            self.cell(0, 8, "LATIHAN - BUKAN PENGUMUMAN RESMI", align="C", new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"{self.notice.pilot} - {self.notice.village_name} - halaman {self.page_no()}", align="C")


def _latin1(text: str) -> str:
    # the core fonts are Latin-1: a name with another character is still printed, that character as '?'
    return text.encode("latin-1", "replace").decode("latin-1")


def as_pdf(notice: Notice, *, compress: bool = True) -> bytes:
    pdf = _Page(notice)
    pdf.set_compression(compress)
    pdf.set_title(_latin1(_title(notice)))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, _latin1(_title(notice)), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, _latin1(f"Desa/Kelurahan {notice.village_name}, Kecamatan {notice.district_name} "
                                 f"({notice.village_code})\n{notice.pilot_name}"), align="C",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.multi_cell(0, 6, _latin1(f"Keluarga berikut memenuhi syarat ({len(notice.households)} keluarga). "
                                 "NIK ditampilkan tersamar."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(12, 7, "No", border=1)
    pdf.cell(110, 7, "Nama", border=1)
    pdf.cell(0, 7, "NIK", border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for i, h in enumerate(notice.households, 1):
        pdf.cell(12, 7, str(i), border=1)
        pdf.cell(110, 7, _latin1(h.name)[:60], border=1)
        pdf.cell(0, 7, h.nik, border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 6, _latin1(f"Batas waktu sanggah: {deadline(notice)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, _latin1(HOW_TO_APPEAL), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 5, notice.generated_at.astimezone(WIB).strftime("Dicetak %d-%m-%Y %H:%M WIB"),
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
