//! The shipping label: an A6 PDF (the size of thermal label printers) with the carrier and method,
//! the sender and the recipient, the weight and order number, the tracking number in large type and
//! as a Code 39 barcode that a handheld scanner reads.
//!
//! The content stream is left uncompressed: a label is a few kilobytes either way, and the text
//! stays greppable, which lets tests (and support staff) find the tracking number in the file.

use comptoir_contracts::address::PostalAddress;
use printpdf::{
    BuiltinFont, Color, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point,
    Pt, Rect, Rgb, TextItem,
};

const WIDTH_MM: f32 = 105.0;
const HEIGHT_MM: f32 = 148.0;
const MARGIN_MM: f32 = 6.0;

/// What goes on a label.
pub struct Label<'a> {
    pub carrier: &'a str,
    pub method_name: &'a str,
    pub tracking_number: &'a str,
    pub order_number: &'a str,
    pub weight_grams: i64,
    pub from: &'a PostalAddress,
    pub to: &'a PostalAddress,
    /// The day the label was created, `YYYY-MM-DD`.
    pub date: String,
}

pub fn render(label: &Label) -> Vec<u8> {
    let mut page = Canvas::default();
    let left = MARGIN_MM;
    page.frame();

    page.text(BuiltinFont::HelveticaBold, 18.0, left, 136.0, label.carrier);
    page.text(BuiltinFont::Helvetica, 10.0, left, 130.0, label.method_name);
    page.text(BuiltinFont::Helvetica, 9.0, left, 124.5, &format!("Order {}", label.order_number));
    page.rule(120.0);

    page.text(BuiltinFont::HelveticaBold, 7.0, left, 115.5, "FROM");
    let mut y = 111.5;
    for line in address_lines(label.from) {
        page.text(BuiltinFont::Helvetica, 8.0, left, y, &line);
        y -= 3.5;
    }
    page.rule(94.0);

    page.text(BuiltinFont::HelveticaBold, 8.0, left, 89.0, "TO");
    page.text(BuiltinFont::HelveticaBold, 13.0, left, 83.0, &label.to.name);
    let mut y = 77.5;
    for line in address_lines(label.to).into_iter().skip(1) {
        page.text(BuiltinFont::Helvetica, 11.0, left, y, &line);
        y -= 5.0;
    }
    page.rule(54.0);

    page.text(BuiltinFont::Helvetica, 9.0, left, 49.0, &format!("Weight {}", weight(label.weight_grams)));
    page.text(BuiltinFont::Helvetica, 9.0, 60.0, 49.0, &label.date);
    // Inset from the frame: Code 39 wants a quiet zone of ten narrow bars on each side.
    page.barcode(label.tracking_number, 10.0, 18.0, WIDTH_MM - 20.0, 24.0);
    page.text(BuiltinFont::HelveticaBold, 18.0, left, 9.0, label.tracking_number);

    let mut doc = PdfDocument::new("Shipping label");
    doc.with_pages(vec![PdfPage::new(Mm(WIDTH_MM), Mm(HEIGHT_MM), page.ops)]);
    let mut warnings = Vec::new();
    let bytes = doc.save(&PdfSaveOptions { optimize: false, ..Default::default() }, &mut warnings);
    if !warnings.is_empty() {
        tracing::debug!(?warnings, "the PDF writer reported warnings for a shipping label");
    }
    bytes
}

/// The lines of an address as a carrier expects them, name first, country last.
fn address_lines(a: &PostalAddress) -> Vec<String> {
    let mut lines = vec![a.name.clone(), a.line1.clone()];
    lines.extend(a.line2.clone());
    lines.push(format!("{} {}", a.postal_code, a.city));
    lines.extend(a.region.clone());
    lines.push(a.country.clone());
    lines
}

/// `1.250 kg`: exact, no floating point.
fn weight(grams: i64) -> String {
    format!("{}.{:03} kg", grams / 1000, grams % 1000)
}

/// Code 39 patterns of the characters a tracking number uses, plus `*` (start and stop): nine
/// elements, bar and space alternating from a bar, narrow (`n`) or wide (`w`). ISO/IEC 16388.
const CODE39: &[(char, &str)] = &[
    ('0', "nnnwwnwnn"),
    ('1', "wnnwnnnnw"),
    ('2', "nnwwnnnnw"),
    ('3', "wnwwnnnnn"),
    ('4', "nnnwwnnnw"),
    ('5', "wnnwwnnnn"),
    ('6', "nnwwwnnnn"),
    ('7', "nnnwnnwnw"),
    ('8', "wnnwnnwnn"),
    ('9', "nnwwnnwnn"),
    ('A', "wnnnnwnnw"),
    ('B', "nnwnnwnnw"),
    ('C', "wnwnnwnnn"),
    ('D', "nnnnwwnnw"),
    ('E', "wnnnwwnnn"),
    ('F', "nnwnwwnnn"),
    ('G', "nnnnnwwnw"),
    ('H', "wnnnnwwnn"),
    ('I', "nnwnnwwnn"),
    ('J', "nnnnwwwnn"),
    ('K', "wnnnnnnww"),
    ('L', "nnwnnnnww"),
    ('M', "wnwnnnnwn"),
    ('N', "nnnnwnnww"),
    ('O', "wnnnwnnwn"),
    ('P', "nnwnwnnwn"),
    ('Q', "nnnnnnwww"),
    ('R', "wnnnnnwwn"),
    ('S', "nnwnnnwwn"),
    ('T', "nnnnwnwwn"),
    ('U', "wwnnnnnnw"),
    ('V', "nwwnnnnnw"),
    ('W', "wwwnnnnnn"),
    ('X', "nwnnwnnnw"),
    ('Y', "wwnnwnnnn"),
    ('Z', "nwwnwnnnn"),
    ('*', "nwnnwnwnn"),
];
/// A wide element is this many narrow ones.
const WIDE: u32 = 3;

/// The bars of the Code 39 symbol of `text` as `(offset, width)` in narrow units, and the symbol's
/// total width; `None` if `text` has a character Code 39 (as used here) cannot encode.
pub fn code39(text: &str) -> Option<(Vec<(u32, u32)>, u32)> {
    let mut bars = Vec::new();
    let mut x = 0;
    for (i, c) in std::iter::once('*').chain(text.chars()).chain(std::iter::once('*')).enumerate() {
        if i > 0 {
            x += 1; // the narrow gap between characters
        }
        let (_, pattern) = CODE39.iter().find(|(k, _)| *k == c)?;
        for (j, element) in pattern.bytes().enumerate() {
            let width = if element == b'w' { WIDE } else { 1 };
            if j % 2 == 0 {
                bars.push((x, width));
            }
            x += width;
        }
    }
    Some((bars, x))
}

#[derive(Default)]
struct Canvas {
    ops: Vec<Op>,
}

fn black() -> Color {
    Color::Rgb(Rgb { r: 0.0, g: 0.0, b: 0.0, icc_profile: None })
}

fn point(x_mm: f32, y_mm: f32) -> LinePoint {
    LinePoint { p: Point::new(Mm(x_mm), Mm(y_mm)), bezier: false }
}

impl Canvas {
    /// One line of text with its baseline at (`x`, `y`) mm, cut to what fits across the label.
    fn text(&mut self, font: BuiltinFont, size: f32, x: f32, y: f32, text: &str) {
        // Helvetica averages about half an em per character; stay on the safe side of it.
        let room = Pt::from(Mm(WIDTH_MM - MARGIN_MM - x)).0;
        let max_chars = (room / (size * 0.6)) as usize;
        let text: String = text.chars().take(max_chars).collect();
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: black() },
            Op::SetFont { font: PdfFontHandle::Builtin(font), size: Pt(size) },
            Op::SetTextCursor { pos: Point::new(Mm(x), Mm(y)) },
            Op::ShowText { items: vec![TextItem::Text(text)] },
            Op::EndTextSection,
        ]);
    }

    fn line(&mut self, points: Vec<LinePoint>, closed: bool, thickness: f32) {
        self.ops.extend([
            Op::SetOutlineColor { col: black() },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine { line: Line { points, is_closed: closed } },
        ]);
    }

    /// A border around the label, where a cutter or a human eye finds its edge.
    fn frame(&mut self) {
        let (l, b, r, t) = (3.0, 3.0, WIDTH_MM - 3.0, HEIGHT_MM - 3.0);
        self.line(vec![point(l, b), point(r, b), point(r, t), point(l, t)], true, 1.0);
    }

    /// A horizontal rule across the label at `y` mm.
    fn rule(&mut self, y: f32) {
        self.line(vec![point(3.0, y), point(WIDTH_MM - 3.0, y)], false, 0.75);
    }

    /// The Code 39 barcode of `text`, stretched to `width` mm. Characters it cannot encode leave
    /// the space empty: the number printed under it is still there.
    fn barcode(&mut self, text: &str, x: f32, y: f32, width: f32, height: f32) {
        let Some((bars, total)) = code39(text) else { return };
        let module = width / total as f32;
        self.ops.push(Op::SetFillColor { col: black() });
        for (offset, bar_width) in bars {
            let rectangle = Rect {
                x: Mm(x + offset as f32 * module).into(),
                y: Mm(y).into(),
                width: Mm(bar_width as f32 * module).into(),
                height: Mm(height).into(),
                mode: Some(PaintMode::Fill),
                winding_order: None,
            };
            self.ops.push(Op::DrawRectangle { rectangle });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code39_patterns_have_three_wide_elements_and_are_distinct() {
        for (c, pattern) in CODE39 {
            assert_eq!(pattern.len(), 9, "{c}");
            assert_eq!(pattern.bytes().filter(|b| *b == b'w').count(), 3, "{c}");
        }
        let mut patterns: Vec<_> = CODE39.iter().map(|(_, p)| p).collect();
        patterns.sort();
        patterns.dedup();
        assert_eq!(patterns.len(), CODE39.len());
    }

    #[test]
    fn code39_symbols_start_and_stop_with_a_star() {
        // `*` is nwnnwnwnn: bars n, n, w, w, n at 0, 4, 6, 10, 14 (the first space is wide).
        let (bars, width) = code39("").unwrap();
        assert_eq!(&bars[..5], &[(0, 1), (4, 1), (6, 3), (10, 3), (14, 1)]);
        assert_eq!(width, 15 + 1 + 15, "two characters of 15 units and the gap");
        let (bars, width) = code39("COL123").unwrap();
        assert_eq!(bars.len(), 8 * 5);
        assert_eq!(width, 8 * 15 + 7);
        assert!(code39("col").is_none(), "lowercase is not in the basic set");
    }

    #[test]
    fn weights_print_in_kilograms() {
        assert_eq!(weight(1250), "1.250 kg");
        assert_eq!(weight(5), "0.005 kg");
    }
}
