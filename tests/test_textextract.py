import pytest

from qa.textextract import UnsupportedFile, text_extract


def test_it_takes_a_markdown_title_from_the_first_heading(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("Intro line.\n\n# Caching answers\n\nRedis keeps them.\n")

    extracted = text_extract(path=path)

    assert extracted.title == "Caching answers"
    assert "Redis keeps them." in extracted.text


def test_it_takes_an_rst_title_from_the_underlined_line(tmp_path):
    path = tmp_path / "guide.rst"
    path.write_text("==========\nThe Guide\n==========\n\nSome text.\n")

    assert text_extract(path=path).title == "The Guide"


def test_it_strips_html_to_paragraphs_without_scripts(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>A page</title><style>p {}</style></head>"
        "<body><h1>Head</h1><p>Hello <b>world</b>.</p><script>alert(1)</script><p>Bye.</p></body></html>"
    )

    extracted = text_extract(path=path)

    assert extracted == type(extracted)(title="A page", text="Head\n\nHello world.\n\nBye.")


def test_it_names_a_text_file_after_the_file(tmp_path):
    path = tmp_path / "getting_started.txt"
    path.write_text("  Plain words.  \n")

    assert text_extract(path=path) == type(text_extract(path=path))(title="Getting started", text="Plain words.")


def test_it_refuses_an_unsupported_file_type(tmp_path):
    path = tmp_path / "slides.pdf"
    path.write_bytes(b"%PDF")

    with pytest.raises(UnsupportedFile, match="unsupported file type '.pdf'"):
        text_extract(path=path)
