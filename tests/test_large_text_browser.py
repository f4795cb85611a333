"""Text at 200% on a 360 px phone, in both languages: no page scrolls sideways; the rights
card, the legal help cards and the headings cut no word and no phone number; the tab
labels stay apart, each within its tab; and the focus ring shows against the purple
header."""

from __future__ import annotations

import pytest

from tests.live import live_server
from tests.test_pages import PATHS, spanish

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
LARGE_TEXT = "html{font-size:200%}"

# Words cut across two lines, or past the right edge: a word here is what lies between
# spaces and the places an address or a date may wrap (- / . , ? = & ·). A phone number
# counts as one word.
CUT_WORDS = """() => {
  const cut = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement.checkVisibility()) continue;
    const number = node.parentElement.closest("a[href^='tel:']");
    const words = number ? /\\S+/g : /[^\\s\\-\\/.·,?=&]+/g;
    let found;
    while ((found = words.exec(node.data))) {
      const range = document.createRange();
      range.setStart(node, found.index);
      range.setEnd(node, found.index + found[0].length);
      const lines = [...range.getClientRects()].filter((r) => r.width > 0);
      if (lines.length > 1 || lines.some((r) => r.right > innerWidth + 0.5)) cut.push(found[0]);
    }
  }
  return cut;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("large-text")) as srv:
        yield srv


@pytest.fixture(scope="module")
def phone(browser):
    # The page's own Content-Security-Policy would refuse the test's style sheet.
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  bypass_csp=True)
    yield context.new_page()
    context.close()


def open_large(page, url: str) -> None:
    page.goto(url)
    page.add_style_tag(content=LARGE_TEXT)


@pytest.mark.parametrize("path", ["/card", "/es/card", "/legal", "/es/legal",
                                  "/legal?state=CA", "/es/legal?state=TX", "/", "/es/",
                                  "/es/listings/philadelphia-pa"])
def test_the_card_legal_help_and_headings_cut_no_word_at_200_percent(server, phone, path):
    """Nor does the home page, whose heading a long Spanish word fills, or a listing's."""
    open_large(phone, server.url + path)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.evaluate(CUT_WORDS) == []


def test_no_page_scrolls_sideways_at_200_percent(server, phone):
    wide = {}
    for url in [u for p in PATHS for u in (p, spanish(p))]:
        open_large(phone, server.url + url)
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[url] = width
    assert not wide, f"wider than the phone at 200% text: {wide}"


TABS = """() => [...document.querySelectorAll("nav.tabs a")].map((a) => {
  const range = document.createRange();
  range.selectNodeContents(a);
  const text = range.getBoundingClientRect();
  const box = a.getBoundingClientRect();
  return {label: a.textContent.trim(), text: [text.left, text.top, text.right, text.bottom],
          box: [box.left, box.top, box.right, box.bottom], fits: a.scrollWidth <= a.clientWidth};
})"""


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


@pytest.mark.parametrize("path", ["/", "/es/", "/legal"])
def test_tab_labels_stay_apart_at_200_percent(server, phone, path):
    open_large(phone, server.url + path)
    tabs = phone.evaluate(TABS)
    assert len(tabs) >= 4
    for i, tab in enumerate(tabs):
        assert tab["fits"], tab["label"]
        left, top, right, bottom = tab["box"]
        assert left >= 0 and right <= PHONE["width"] and bottom <= PHONE["height"], tab
        assert bottom - top >= 44, tab
        # The label lies within its own tab, so it cannot run into the next one.
        assert tab["text"][0] >= left - 0.5 and tab["text"][2] <= right + 0.5, tab
        for other in tabs[i + 1:]:
            assert not overlap(tab["text"], other["text"]), (tab["label"], other["label"])
    assert phone.evaluate("""() => [...document.querySelectorAll("nav.tabs a")].every((a) => {
      const range = document.createRange();
      range.selectNodeContents(a);
      return a.textContent.trim().split(/\\s+/).length >= range.getClientRects().length;
    })"""), "a tab label is cut inside a word"


CONTRAST = """(selector) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92
      : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const header = getComputedStyle(document.querySelector(selector)).backgroundColor;
  const [a, b] = [lum(style.outlineColor), lum(header)].sort((x, y) => y - x);
  return {focused: el.textContent.trim(), style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), ratio: (a + 0.05) / (b + 0.05)};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_focus_ring_shows_against_the_header(server, browser, scheme):
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)
    page = context.new_page()
    page.goto(server.url + "/")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the header's first link
    ring = page.evaluate(CONTRAST, "header.top")
    assert ring["focused"] == "Vigil"
    assert ring["style"] != "none" and ring["width"] >= 2
    assert ring["ratio"] >= 3, ring
    context.close()
