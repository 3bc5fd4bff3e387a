//! Invoices and credit notes as A4 PDF documents, drawn with the PDF standard Helvetica fonts so
//! that no font file is needed. Long tables continue on further pages under a repeated header;
//! every page carries a footer with the document number and the page count.
//!
//! Layout coordinates are millimetres from the bottom-left corner (`f32`, as the PDF library
//! takes them); amounts are formatted from integer minor units, never through floating point.

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::{CreditNote, Invoice, InvoiceLine, Party};
use comptoir_kernel::{Error, Money, Result};
use printpdf::{
    BuiltinFont, Color, Greyscale, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, TextItem,
};

use crate::domain::percent;

const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const LEFT: f32 = 18.0;
const RIGHT: f32 = 192.0;
const TOP: f32 = 279.0;
/// Content stops here; the footer lives below.
const BOTTOM: f32 = 28.0;
const FOOTER_Y: f32 = 14.0;
const PT_IN_MM: f32 = 0.352_778;

const BODY: f32 = 9.0;
const SMALL: f32 = 7.5;
const TABLE: f32 = 8.5;

/// Right edges of the invoice table's number columns, and where the description wraps.
const COL_QTY: f32 = 96.0;
const COL_UNIT: f32 = 117.0;
const COL_RATE: f32 = 131.0;
const COL_NET: f32 = 152.0;
const COL_TAX: f32 = 171.0;
const COL_GROSS: f32 = RIGHT;
const DESCRIPTION_WIDTH: f32 = 62.0;

#[derive(Clone, Copy, PartialEq)]
enum Face {
    Regular,
    Bold,
}

impl Face {
    fn font(self) -> BuiltinFont {
        match self {
            Face::Regular => BuiltinFont::Helvetica,
            Face::Bold => BuiltinFont::HelveticaBold,
        }
    }
}

/// Advance widths of Helvetica and Helvetica-Bold for ASCII 32..=126, in 1/1000 em (from the
/// fonts' standard metrics). Other characters count as a digit's width.
#[rustfmt::skip]
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// Width of `text` in millimetres.
fn text_width(text: &str, face: Face, size: f32) -> f32 {
    let table = match face {
        Face::Regular => &HELVETICA,
        Face::Bold => &HELVETICA_BOLD,
    };
    let units: u32 = text
        .chars()
        .map(|c| match c as u32 {
            code @ 32..=126 => u32::from(table[(code - 32) as usize]),
            _ => 556,
        })
        .sum();
    units as f32 / 1000.0 * size * PT_IN_MM
}

/// Splits `text` into lines no wider than `width`, breaking between words (and inside a word
/// only when it is wider than a line on its own).
fn wrap(text: &str, face: Face, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
        if text_width(&candidate, face, size) <= width {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        for c in word.chars() {
            current.push(c);
            if text_width(&current, face, size) > width && current.chars().count() > 1 {
                current.pop();
                lines.push(std::mem::take(&mut current));
                current.push(c);
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// `1,234.50`: the amount with thousands grouped and the currency's minor digits.
pub fn amount(money: Money) -> String {
    let digits = u32::from(money.currency.minor_digits());
    let abs = money.amount.unsigned_abs();
    let scale = 10u64.pow(digits);
    let whole = (abs / scale).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if money.amount < 0 { "-" } else { "" };
    if digits == 0 {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{:0width$}", abs % scale, width = digits as usize)
    }
}

/// `1,234.50 EUR`.
pub fn money(m: Money) -> String {
    format!("{} {}", amount(m), m.currency)
}

fn address_lines(address: &PostalAddress) -> Vec<String> {
    let mut lines = vec![address.line1.clone()];
    lines.extend(address.line2.clone());
    let city = match &address.region {
        Some(region) => format!("{} {}, {region}", address.postal_code, address.city),
        None => format!("{} {}", address.postal_code, address.city),
    };
    lines.push(city);
    lines.push(address.country.clone());
    lines
}

/// A party's block: name first, then its address and email.
fn party_lines(party: &Party) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(address) = &party.address {
        if address.name != party.name {
            lines.push(address.name.clone());
        }
        lines.extend(address_lines(address));
    }
    lines.extend(party.email.clone());
    lines
}

fn grey(level: f32) -> Color {
    Color::Greyscale(Greyscale::new(level, None))
}

/// The pages being drawn and the current position on the last one.
struct Canvas {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Canvas {
    fn new() -> Self {
        Canvas { pages: vec![Vec::new()], y: TOP }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        // `pages` starts with one page and only grows.
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn text(&mut self, x: f32, y: f32, face: Face, size: f32, text: &str) {
        self.ops().extend([
            Op::StartTextSection,
            Op::SetTextCursor { pos: Point::new(Mm(x), Mm(y)) },
            Op::SetFont { font: PdfFontHandle::Builtin(face.font()), size: Pt(size) },
            Op::ShowText { items: vec![TextItem::Text(text.to_string())] },
            Op::EndTextSection,
        ]);
    }

    fn text_right(&mut self, right: f32, y: f32, face: Face, size: f32, text: &str) {
        self.text(right - text_width(text, face, size), y, face, size, text);
    }

    fn with_colour(&mut self, colour: Color, draw: impl FnOnce(&mut Self)) {
        self.ops().push(Op::SetFillColor { col: colour });
        draw(self);
        self.ops().push(Op::SetFillColor { col: grey(0.0) });
    }

    fn rule(&mut self, from: f32, to: f32, y: f32, thickness: f32) {
        let point = |x| LinePoint { p: Point::new(Mm(x), Mm(y)), bezier: false };
        self.ops().extend([
            Op::SetOutlineColor { col: grey(0.6) },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine { line: Line { points: vec![point(from), point(to)], is_closed: false } },
        ]);
    }

    fn band(&mut self, y: f32, height: f32) {
        let mut rect =
            Rect::from_xywh(Mm(LEFT - 1.5).into(), Mm(y).into(), Mm(RIGHT - LEFT + 3.0).into(), Mm(height).into());
        rect.mode = Some(PaintMode::Fill);
        self.ops().push(Op::SetFillColor { col: grey(0.92) });
        self.ops().push(Op::DrawRectangle { rectangle: rect });
        self.ops().push(Op::SetFillColor { col: grey(0.0) });
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` millimetres still fit; `true` if it did.
    fn make_room(&mut self, height: f32) -> bool {
        if self.y - height < BOTTOM {
            self.new_page();
            true
        } else {
            false
        }
    }

    /// A column of lines at `x`, starting at `y`; returns the y below the last.
    fn lines(&mut self, x: f32, mut y: f32, lines: &[String]) -> f32 {
        for line in lines {
            self.text(x, y, Face::Regular, BODY, line);
            y -= 4.2;
        }
        y
    }

    /// The footer of every page, then the document.
    fn finish(self, title: &str, footer_left: &str, footer_right: &str) -> Result<Vec<u8>> {
        let count = self.pages.len();
        let pages = self
            .pages
            .into_iter()
            .enumerate()
            .map(|(i, mut ops)| {
                let mut footer = Canvas { pages: vec![Vec::new()], y: 0.0 };
                footer.rule(LEFT, RIGHT, FOOTER_Y + 4.0, 0.5);
                footer.with_colour(grey(0.35), |f| {
                    f.text(LEFT, FOOTER_Y, Face::Regular, SMALL, footer_left);
                    f.text_right(
                        RIGHT,
                        FOOTER_Y,
                        Face::Regular,
                        SMALL,
                        &format!("{footer_right} - page {} of {count}", i + 1),
                    );
                });
                ops.extend(footer.pages.into_iter().flatten());
                PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops)
            })
            .collect();
        let mut doc = PdfDocument::new(title);
        let mut warnings = Vec::new();
        let bytes = doc.with_pages(pages).save(&PdfSaveOptions::default(), &mut warnings);
        if !bytes.starts_with(b"%PDF-") {
            return Err(Error::internal(format!("{title}: the PDF writer produced no document ({warnings:?})")));
        }
        Ok(bytes)
    }
}

/// Seller on the left, the document's title and references on the right; then the buyer.
fn heading(c: &mut Canvas, title: &str, seller: &Party, buyer: &Party, references: &[(&str, String)]) {
    c.text(LEFT, c.y, Face::Bold, 15.0, &seller.name);
    let below_seller = c.lines(LEFT, c.y - 6.0, &party_lines(seller));

    c.text_right(RIGHT, c.y, Face::Bold, 22.0, title);
    let mut y = c.y - 9.0;
    for (label, value) in references {
        c.with_colour(grey(0.35), |c| c.text(128.0, y, Face::Regular, BODY, label));
        c.text_right(RIGHT, y, Face::Bold, BODY, value);
        y -= 4.6;
    }

    let top = below_seller.min(y) - 8.0;
    c.with_colour(grey(0.35), |c| c.text(LEFT, top, Face::Bold, BODY, "BILL TO"));
    c.text(LEFT, top - 5.0, Face::Bold, 10.0, &buyer.name);
    c.y = c.lines(LEFT, top - 9.5, &party_lines(buyer)) - 8.0;
}

fn invoice_table_header(c: &mut Canvas, currency_note: &str) {
    c.band(c.y - 1.8, 6.0);
    let y = c.y;
    c.text(LEFT, y, Face::Bold, TABLE, "Description");
    for (right, title) in [
        (COL_QTY, "Qty"),
        (COL_UNIT, "Unit net"),
        (COL_RATE, "Rate"),
        (COL_NET, "Net"),
        (COL_TAX, "Tax"),
        (COL_GROSS, "Gross"),
    ] {
        c.text_right(right, y, Face::Bold, TABLE, title);
    }
    c.with_colour(grey(0.35), |c| c.text_right(RIGHT, y + 6.0, Face::Regular, SMALL, currency_note));
    c.y -= 7.5;
}

/// Unit net as printed: the line's net divided by its quantity, rounded half away from zero.
fn unit_net(line: &InvoiceLine) -> Money {
    let q = line.quantity.max(1);
    let (n, r) = (line.net.amount / q, line.net.amount % q);
    let unit = if r.unsigned_abs() * 2 >= q.unsigned_abs() { n + line.net.amount.signum() } else { n };
    Money::new(unit, line.net.currency)
}

fn invoice_row(c: &mut Canvas, line: &InvoiceLine, number: &str, currency_note: &str) {
    let description = wrap(&line.description, Face::Regular, TABLE, DESCRIPTION_WIDTH);
    let height = description.len() as f32 * 3.8 + if line.sku.is_some() { 3.4 } else { 0.0 } + 2.6;
    if c.make_room(height) {
        c.text(LEFT, c.y, Face::Bold, 11.0, &format!("Invoice {number} (continued)"));
        c.y -= 10.0;
        invoice_table_header(c, currency_note);
    }
    let y = c.y;
    for (i, text) in description.iter().enumerate() {
        c.text(LEFT, y - i as f32 * 3.8, Face::Regular, TABLE, text);
    }
    if let Some(sku) = &line.sku {
        let sku_y = y - description.len() as f32 * 3.8 + 0.4;
        c.with_colour(grey(0.4), |c| c.text(LEFT, sku_y, Face::Regular, SMALL, &format!("SKU {sku}")));
    }
    let cells = [
        (COL_QTY, line.quantity.to_string()),
        (COL_UNIT, amount(unit_net(line))),
        (COL_RATE, percent(line.rate)),
        (COL_NET, amount(line.net)),
        (COL_TAX, amount(line.tax)),
        (COL_GROSS, amount(line.gross)),
    ];
    for (right, text) in cells {
        c.text_right(right, y, Face::Regular, TABLE, &text);
    }
    c.y -= height;
    c.rule(LEFT, RIGHT, c.y + 2.6, 0.3);
}

/// The tax summary on the left and the totals on the right, kept together on one page.
fn invoice_totals(c: &mut Canvas, invoice: &Invoice) {
    let height = 14.0 + invoice.summary.len().max(3) as f32 * 4.6;
    c.make_room(height);
    c.y -= 4.0;
    let top = c.y;

    c.text(LEFT, top, Face::Bold, BODY, "Tax summary");
    let (base_right, tax_right) = (88.0, 108.0);
    c.with_colour(grey(0.35), |c| {
        c.text_right(base_right, top, Face::Regular, SMALL, "Base");
        c.text_right(tax_right, top, Face::Regular, SMALL, "Tax");
    });
    let mut y = top - 5.0;
    for line in &invoice.summary {
        let rate = percent(line.rate);
        let label = if line.label.contains(&rate) { line.label.clone() } else { format!("{} ({rate})", line.label) };
        c.text(LEFT, y, Face::Regular, BODY, &label);
        c.text_right(base_right, y, Face::Regular, BODY, &amount(line.base));
        c.text_right(tax_right, y, Face::Regular, BODY, &amount(line.tax));
        y -= 4.6;
    }

    let label_x = 130.0;
    c.text(label_x, top, Face::Regular, BODY, "Net total");
    c.text_right(RIGHT, top, Face::Regular, BODY, &money(invoice.net));
    c.text(label_x, top - 5.0, Face::Regular, BODY, "Tax");
    c.text_right(RIGHT, top - 5.0, Face::Regular, BODY, &money(invoice.tax));
    c.rule(label_x, RIGHT, top - 7.5, 0.8);
    c.text(label_x, top - 12.0, Face::Bold, 11.0, "Total due");
    c.text_right(RIGHT, top - 12.0, Face::Bold, 11.0, &money(invoice.gross));

    c.y = y.min(top - 12.0) - 10.0;
}

fn date(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// An issued invoice as a PDF document.
pub fn invoice(invoice: &Invoice) -> Result<Vec<u8>> {
    let number = invoice.number.as_deref().ok_or_else(|| Error::internal("a draft invoice has no PDF"))?;
    let currency_note = format!("Amounts in {}", invoice.gross.currency);
    let mut c = Canvas::new();
    let references = [
        ("Invoice number", number.to_string()),
        ("Issue date", date(invoice.issued_at)),
        ("Order", invoice.order_number.clone()),
    ];
    heading(&mut c, "Invoice", &invoice.seller, &invoice.buyer, &references);
    invoice_table_header(&mut c, &currency_note);
    for line in &invoice.lines {
        invoice_row(&mut c, line, number, &currency_note);
    }
    invoice_totals(&mut c, invoice);

    c.make_room(12.0);
    c.with_colour(grey(0.35), |c| {
        c.text(
            LEFT,
            c.y,
            Face::Regular,
            BODY,
            &format!("Payment received with order {}. Thank you for your purchase.", invoice.order_number),
        );
    });
    let footer = footer_text(&invoice.seller);
    c.finish(&format!("Invoice {number}"), &footer, &format!("Invoice {number}"))
}

/// A credit note as a PDF document; `invoice` is the invoice it credits.
pub fn credit_note(note: &CreditNote, invoice: &Invoice) -> Result<Vec<u8>> {
    let mut c = Canvas::new();
    let credited = invoice.number.clone().unwrap_or_default();
    let references = [
        ("Credit note number", note.number.clone()),
        ("Issue date", date(Some(note.issued_at))),
        ("Credits invoice", credited.clone()),
        ("Order", invoice.order_number.clone()),
    ];
    heading(&mut c, "Credit note", &invoice.seller, &invoice.buyer, &references);

    c.band(c.y - 1.8, 6.0);
    c.text(LEFT, c.y, Face::Bold, TABLE, "Description");
    c.text_right(RIGHT, c.y, Face::Bold, TABLE, "Amount");
    c.y -= 7.5;
    let net = Money::new(note.gross.amount - note.tax.amount, note.gross.currency);
    let description = match &note.reason {
        Some(reason) => format!("Refund on invoice {credited}: {reason}"),
        None => format!("Refund on invoice {credited}"),
    };
    for (i, text) in wrap(&description, Face::Regular, TABLE, 140.0).iter().enumerate() {
        c.text(LEFT, c.y - i as f32 * 3.8, Face::Regular, TABLE, text);
    }
    c.text_right(RIGHT, c.y, Face::Regular, TABLE, &money(note.gross));
    c.y -= 8.0;
    c.rule(LEFT, RIGHT, c.y + 2.6, 0.3);

    let label_x = 130.0;
    c.y -= 4.0;
    c.text(label_x, c.y, Face::Regular, BODY, "Net credited");
    c.text_right(RIGHT, c.y, Face::Regular, BODY, &money(net));
    c.text(label_x, c.y - 5.0, Face::Regular, BODY, "Tax credited");
    c.text_right(RIGHT, c.y - 5.0, Face::Regular, BODY, &money(note.tax));
    c.rule(label_x, RIGHT, c.y - 7.5, 0.8);
    c.text(label_x, c.y - 12.0, Face::Bold, 11.0, "Total credited");
    c.text_right(RIGHT, c.y - 12.0, Face::Bold, 11.0, &money(note.gross));
    c.y -= 24.0;
    c.with_colour(grey(0.35), |c| {
        c.text(LEFT, c.y, Face::Regular, BODY, "The amount credited is refunded to the original means of payment.");
    });

    let footer = footer_text(&invoice.seller);
    c.finish(&format!("Credit note {}", note.number), &footer, &format!("Credit note {}", note.number))
}

fn footer_text(seller: &Party) -> String {
    match &seller.email {
        Some(email) => format!("{} - {email}", seller.name),
        None => seller.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comptoir_kernel::Currency;

    #[test]
    fn amounts_are_grouped_by_thousands() {
        assert_eq!(money(Money::new(123_450, Currency::EUR)), "1,234.50 EUR");
        assert_eq!(amount(Money::new(5, Currency::EUR)), "0.05");
        assert_eq!(amount(Money::new(-123_456_789, Currency::EUR)), "-1,234,567.89");
        assert_eq!(amount(Money::new(100_000, "JPY".parse().unwrap())), "100,000");
        assert_eq!(amount(Money::new(i64::MIN, Currency::EUR)), "-92,233,720,368,547,758.08");
    }

    #[test]
    fn descriptions_wrap_between_words_within_the_width() {
        let text = "Organic cotton tee shirt with a long descriptive name that will not fit";
        let lines = wrap(text, Face::Regular, TABLE, DESCRIPTION_WIDTH);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| text_width(l, Face::Regular, TABLE) <= DESCRIPTION_WIDTH));
        assert_eq!(lines.join(" "), text);
        let long_word = "X".repeat(80);
        assert!(wrap(&long_word, Face::Regular, TABLE, 20.0).len() > 1);
        assert_eq!(wrap("", Face::Regular, TABLE, 20.0), vec![String::new()]);
    }

    #[test]
    fn unit_net_rounds_half_away_from_zero() {
        let line = |net, quantity| InvoiceLine {
            description: "x".into(),
            sku: None,
            quantity,
            rate: Default::default(),
            net: Money::new(net, Currency::EUR),
            tax: Money::new(0, Currency::EUR),
            gross: Money::new(net, Currency::EUR),
        };
        assert_eq!(unit_net(&line(1667, 2)).amount, 834);
        assert_eq!(unit_net(&line(1000, 3)).amount, 333);
        assert_eq!(unit_net(&line(-5, 2)).amount, -3);
    }
}
