//! A small SVG writer: elements, attributes and text, escaped, and the
//! numbers in them rounded. The charts (`chart.rs`) draw with it; it knows
//! nothing about charts.
//!
//! It must never write a character of its input unescaped: labels and notes
//! come from CSV files, and a `<` in one must not become markup. It writes
//! no script and no reference to anything outside the document (fonts,
//! stylesheets, images), so a chart looks the same as a file of its own,
//! inlined in the page, and offline.

use std::fmt::{self, Display, Write};

/// An SVG document being written: [`Svg::open`] and [`Svg::close`] nest
/// elements, [`Svg::leaf`] and [`Svg::text`] add complete ones, and
/// [`Svg::finish`] closes whatever is still open.
pub(super) struct Svg {
    out: String,
    open: Vec<&'static str>,
}

/// An attribute: its name and its value, which is escaped when written.
pub(super) type Attr<'a> = (&'a str, &'a dyn Display);

impl Svg {
    /// A document `width` × `height` pixels whose root has `id` (unique in
    /// the page it is inlined in) and whose `<title>` is `title`.
    pub(super) fn new(id: &str, width: f64, height: f64, title: &str) -> Svg {
        let mut svg = Svg { out: String::new(), open: Vec::new() };
        let view_box = format!("0 0 {} {}", Num(width), Num(height));
        svg.open(
            "svg",
            &[
                ("xmlns", &"http://www.w3.org/2000/svg"),
                ("id", &id),
                ("class", &"chart"),
                ("width", &Num(width)),
                ("height", &Num(height)),
                ("viewBox", &view_box),
                ("role", &"img"),
                ("font-family", &"sans-serif"),
                ("font-size", &12),
                ("fill", &"#222"),
            ],
        );
        svg.text("title", &[], title);
        svg
    }

    /// Start an element that will hold others; [`Svg::close`] ends it.
    pub(super) fn open(&mut self, tag: &'static str, attrs: &[Attr<'_>]) {
        self.start_tag(tag, attrs);
        self.out.push('>');
        self.open.push(tag);
    }

    /// An element with nothing inside.
    pub(super) fn leaf(&mut self, tag: &'static str, attrs: &[Attr<'_>]) {
        self.start_tag(tag, attrs);
        self.out.push_str("/>");
    }

    /// An element holding only `text`.
    pub(super) fn text(&mut self, tag: &'static str, attrs: &[Attr<'_>], text: &str) {
        self.start_tag(tag, attrs);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// Text inside the element opened last, after what it holds so far.
    pub(super) fn content(&mut self, text: &str) {
        self.out.push_str(&escape(text));
    }

    /// End the element opened last.
    pub(super) fn close(&mut self) {
        if let Some(tag) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(tag);
            self.out.push('>');
        }
    }

    /// The document's markup, every element closed.
    pub(super) fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }

    fn start_tag(&mut self, tag: &str, attrs: &[Attr<'_>]) {
        self.out.push('<');
        self.out.push_str(tag);
        let mut value = String::new();
        for (name, v) in attrs {
            value.clear();
            // Writing into a String cannot fail.
            let _ = write!(value, "{v}");
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            self.out.push_str(&escape(&value));
            self.out.push('"');
        }
    }
}

/// `s` as text or an attribute value in XML and HTML: the five markup
/// characters as entities, and the control characters XML 1.0 does not
/// allow (any below U+0020 but tab, newline and carriage return) replaced
/// by U+FFFD, so a stray byte in a note cannot make a chart unreadable.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or length as an attribute value: at most two decimals,
/// without trailing zeros (`12`, `12.5`, `0.33`), and 0 for anything not
/// finite, so a degenerate value cannot write `NaN` into a document.
#[derive(Clone, Copy, Debug)]
pub(super) struct Num(pub(super) f64);

impl Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        f.write_str(if s == "-0" { "0" } else { s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_always_numbers() {
        let table = [
            (12.0, "12"),
            (12.5, "12.5"),
            (1.0 / 3.0, "0.33"),
            (-0.001, "0"),
            (100.0, "100"),
            (f64::NAN, "0"),
            (f64::INFINITY, "0"),
        ];
        for (v, expected) in table {
            assert_eq!(Num(v).to_string(), expected, "{v}");
        }
    }

    #[test]
    fn markup_in_text_and_attributes_is_escaped() {
        assert_eq!(escape(r#"<b>&"it's"</b>"#), "&lt;b&gt;&amp;&quot;it&#39;s&quot;&lt;/b&gt;");
        assert_eq!(escape("a\tb\nc\u{1}d\u{7f}µ"), "a\tb\nc\u{FFFD}d\u{7f}µ");
        let mut svg = Svg::new("a\"b", 10.0, 5.0, "<t>");
        svg.open("g", &[("data-series", &"x<y")]);
        svg.text("text", &[("x", &Num(1.0))], "1 < 2 & 3");
        svg.leaf("rect", &[("width", &Num(2.0))]);
        svg.content("a>b");
        let markup = svg.finish();
        assert!(markup.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" id="a&quot;b""#), "{markup}");
        assert!(markup.contains("<title>&lt;t&gt;</title>"), "{markup}");
        assert!(
            markup.ends_with(
                r#"<g data-series="x&lt;y"><text x="1">1 &lt; 2 &amp; 3</text><rect width="2"/>a&gt;b</g></svg>"#
            ),
            "{markup}"
        );
    }
}
