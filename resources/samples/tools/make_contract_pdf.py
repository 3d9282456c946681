#!/usr/bin/python3
# Writes contract/services-agreement.pdf: a small three-page contract-like PDF with known
# text on known pages, using only the Python standard library (Debian's python3) and the
# standard Helvetica font, so the sample needs no PDF toolkit. Run from resources/samples:
#   /usr/bin/python3 tools/make_contract_pdf.py && qpdf --check contract/services-agreement.pdf
import sys

PAGES = [
    ["MASTER SERVICES AGREEMENT",
     "",
     "This Agreement is made between Northwind Analytics Ltd (the Supplier)",
     "and Harbour Logistics GmbH (the Customer), effective 1 March 2024.",
     "",
     "1. Services. The Supplier shall provide the hosted data platform",
     "   described in Schedule A, with availability of 99.5 percent per month.",
     "2. Fees. The Customer shall pay the fees in Schedule B within thirty",
     "   days of each invoice. Late amounts carry interest at 4 percent."],
    ["3. Term and Termination.",
     "3.1 This Agreement runs for an initial term of twenty-four months.",
     "3.2 Either party may terminate this Agreement for convenience on ninety",
     "    days written notice to the other party.",
     "3.3 Termination for cause: either party may terminate immediately if the",
     "    other party commits a material breach that is not remedied within",
     "    thirty days of notice.",
     "3.4 On termination the Supplier shall return all Customer Data within",
     "    fourteen days and then delete every remaining copy."],
    ["4. Indemnification.",
     "4.1 The Supplier shall indemnify and hold harmless the Customer against",
     "    any third-party claim that the Services infringe intellectual property.",
     "4.2 The Customer shall indemnify the Supplier against claims arising from",
     "    Customer Data supplied in breach of applicable law.",
     "5. Limitation of Liability. Neither party is liable for indirect loss.",
     "   Total liability is capped at the fees paid in the prior twelve months.",
     "6. Governing Law. This Agreement is governed by the laws of England.",
     "",
     "Signed for the Supplier: A. Okafor      Signed for the Customer: M. Keller"],
]


def escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def content_stream(lines):
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
    for line in lines:
        ops.append("(%s) Tj T*" % escape(line))
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def build():
    objects = []  # index i holds object number i + 1
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join("%d 0 R" % (4 + 2 * i) for i in range(len(PAGES)))
    objects.append(("<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(PAGES))).encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                   b"/Encoding /WinAnsiEncoding >>")
    for i, lines in enumerate(PAGES):
        page_no, stream_no = 4 + 2 * i, 5 + 2 * i
        objects.append(("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                        "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                        % stream_no).encode())
        data = content_stream(lines)
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
        assert len(objects) == stream_no
    info_no = len(objects) + 1
    objects.append(b"<< /Title (Master Services Agreement) /Author (Lectern samples) >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, info_no, xref))
    return bytes(out)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "contract/services-agreement.pdf"
    with open(path, "wb") as f:
        f.write(build())
