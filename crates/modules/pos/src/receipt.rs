//! The till receipt: plain text, 40 columns (a receipt printer's width in its standard font),
//! every line at most that wide, amounts right-aligned.
//!
//! ```text
//!              Comptoir Paris
//!             1 rue de Rivoli
//!               75001 Paris
//!                  FR
//! ----------------------------------------
//! Sale                  PARIS-STORE-000001
//! 2026-03-01 09:30 UTC
//! Served by Ann
//! ----------------------------------------
//! Tee shirt
//!   2 x 24.00                        48.00
//! ----------------------------------------
//! Net                                40.00
//! Tax 20%                             8.00
//! TOTAL                          48.00 EUR
//! ----------------------------------------
//! Cash                               50.00
//! Change                              2.00
//! ----------------------------------------
//!        Thank you for your visit!
//! ```

use comptoir_contracts::pos::{Sale, Store, StoreReturn, TenderMethod};
use comptoir_kernel::Money;
use rust_decimal::Decimal;

pub const WIDTH: usize = 40;

/// `20%`, `5.5%`.
fn percent(rate: Decimal) -> String {
    format!("{}%", (rate * Decimal::from(100)).normalize())
}

/// At most `width` characters of `text`.
fn cut(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

fn centred(text: &str) -> String {
    let text = cut(text.trim(), WIDTH);
    let pad = (WIDTH - text.chars().count()) / 2;
    format!("{}{text}", " ".repeat(pad))
}

/// `left` and `right` on one line, `right` against the right edge; `left` is cut to make room.
fn spread(left: &str, right: &str) -> String {
    let right = cut(right, WIDTH);
    let room = WIDTH - right.chars().count();
    let left = cut(left, room.saturating_sub(1));
    let gap = WIDTH - left.chars().count() - right.chars().count();
    format!("{left}{}{right}", " ".repeat(gap))
}

fn rule() -> String {
    "-".repeat(WIDTH)
}

/// The receipt of `sale` at `store` (its name and address as they are now; just the location's
/// code if the store is unknown), with the returns taken since, oldest first.
pub fn render(sale: &Sale, store: Option<&Store>, returns: &[StoreReturn]) -> String {
    let mut out: Vec<String> = Vec::new();
    match store {
        Some(store) => {
            out.push(centred(&store.name));
            let address = &store.address;
            out.push(centred(&address.line1));
            if let Some(line2) = address.line2.as_deref().filter(|l| !l.trim().is_empty()) {
                out.push(centred(line2));
            }
            out.push(centred(&format!("{} {}", address.postal_code, address.city)));
            let country = match address.region.as_deref().filter(|r| !r.trim().is_empty()) {
                Some(region) => format!("{region}, {}", address.country),
                None => address.country.clone(),
            };
            out.push(centred(&country));
            if let Some(phone) = address.phone.as_deref().filter(|p| !p.trim().is_empty()) {
                out.push(centred(phone));
            }
        }
        None => out.push(centred(&sale.location.to_uppercase())),
    }
    out.push(rule());
    out.push(spread("Sale", &sale.number));
    out.push(cut(&sale.created_at.format("%Y-%m-%d %H:%M UTC").to_string(), WIDTH));
    out.push(cut(&format!("Served by {}", sale.cashier.name), WIDTH));
    out.push(rule());

    for line in &sale.lines {
        out.push(cut(&line.product_name, WIDTH));
        out.push(spread(
            &format!("  {} x {}", line.quantity, line.unit_price.major_units()),
            &line.gross.major_units(),
        ));
    }
    out.push(rule());

    out.push(spread("Net", &sale.totals.net.major_units()));
    // Tax per rate, in the order the rates first appear.
    let mut rates: Vec<(Decimal, i64)> = Vec::new();
    for line in &sale.lines {
        match rates.iter_mut().find(|(rate, _)| *rate == line.tax_rate) {
            Some((_, tax)) => *tax += line.tax.amount,
            None => rates.push((line.tax_rate, line.tax.amount)),
        }
    }
    for (rate, tax) in rates {
        out.push(spread(&format!("Tax {}", percent(rate)), &Money::new(tax, sale.totals.tax.currency).major_units()));
    }
    out.push(spread("TOTAL", &sale.totals.gross.to_string()));
    out.push(rule());

    match sale.tender.method {
        TenderMethod::Cash => {
            out.push(spread("Cash", &sale.tender.tendered.unwrap_or(sale.tender.amount).major_units()));
            out.push(spread(
                "Change",
                &sale.tender.change.unwrap_or(Money::zero(sale.tender.amount.currency)).major_units(),
            ));
        }
        TenderMethod::Card => out.push(spread("Card", &sale.tender.amount.major_units())),
    }

    if !returns.is_empty() {
        out.push(rule());
        for r in returns {
            out.push(cut(&format!("Returned {}", r.created_at.format("%Y-%m-%d %H:%M UTC")), WIDTH));
            for line in &r.lines {
                let name = sale.lines.iter().find(|l| l.sku == line.sku).map_or(line.sku.as_str(), |l| &l.product_name);
                out.push(spread(&format!("  {} x {name}", line.quantity), &negated(line.amount).major_units()));
            }
        }
        out.push(spread("Refunded", &negated(sale.refunded).major_units()));
    }

    out.push(rule());
    out.push(centred("Thank you for your visit!"));
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn negated(money: Money) -> Money {
    Money::new(-money.amount, money.currency)
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::address::PostalAddress;
    use comptoir_contracts::pos::{Cashier, ReturnedLine, SaleLine, SaleStatus, SaleTotals, Tender};
    use comptoir_kernel::Currency;
    use uuid::Uuid;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-03-01T09:30:12Z").unwrap().into()
    }

    fn sale(method: TenderMethod) -> Sale {
        let line = |sku: &str, name: &str, quantity, unit, net, tax, rate| SaleLine {
            sku: sku.into(),
            product_id: Uuid::nil(),
            product_name: name.into(),
            quantity,
            unit_price: eur(unit),
            tax_rate: Decimal::new(rate, 3),
            net: eur(net),
            tax: eur(tax),
            gross: eur(net + tax),
            returned: 0,
        };
        Sale {
            id: Uuid::nil(),
            number: "PARIS-STORE-000001".into(),
            location: "paris-store".into(),
            channel: "store".into(),
            cashier: Cashier { id: Uuid::nil(), name: "Ann".into() },
            status: SaleStatus::Completed,
            lines: vec![
                line("TEE", "Tee shirt", 2, 2400, 4000, 800, 200),
                line("BOOK", "A book whose title is far too long for a receipt line", 1, 1055, 1000, 55, 55),
            ],
            totals: SaleTotals { net: eur(5000), tax: eur(855), gross: eur(5855) },
            tender: Tender {
                method,
                amount: eur(5855),
                tendered: (method == TenderMethod::Cash).then(|| eur(6000)),
                change: (method == TenderMethod::Cash).then(|| eur(145)),
                payment_id: Uuid::nil(),
            },
            refunded: eur(0),
            created_at: at(),
        }
    }

    fn store() -> Store {
        Store {
            location: "paris-store".into(),
            name: "Comptoir Paris".into(),
            address: PostalAddress {
                name: "Comptoir".into(),
                line1: "1 rue de Rivoli".into(),
                line2: None,
                city: "Paris".into(),
                postal_code: "75001".into(),
                region: None,
                country: "FR".into(),
                phone: None,
            },
            channel: "store".into(),
            currency: Currency::EUR,
            created_at: at(),
            updated_at: at(),
        }
    }

    #[test]
    fn a_cash_receipt_has_every_part_and_fits_forty_columns() {
        let text = render(&sale(TenderMethod::Cash), Some(&store()), &[]);
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?} is too wide");
        }
        let expected = [
            "             Comptoir Paris",
            "            1 rue de Rivoli",
            "              75001 Paris",
            "                   FR",
            "----------------------------------------",
            "Sale                  PARIS-STORE-000001",
            "2026-03-01 09:30 UTC",
            "Served by Ann",
            "----------------------------------------",
            "Tee shirt",
            "  2 x 24.00                        48.00",
            "A book whose title is far too long for a",
            "  1 x 10.55                        10.55",
            "----------------------------------------",
            "Net                                50.00",
            "Tax 20%                             8.00",
            "Tax 5.5%                            0.55",
            "TOTAL                          58.55 EUR",
            "----------------------------------------",
            "Cash                               60.00",
            "Change                              1.45",
            "----------------------------------------",
            "       Thank you for your visit!",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_card_receipt_with_returns_shows_them() {
        let mut sale = sale(TenderMethod::Card);
        sale.refunded = eur(2400);
        let back = StoreReturn {
            id: Uuid::nil(),
            sale_id: Uuid::nil(),
            sale_number: sale.number.clone(),
            location: sale.location.clone(),
            channel: sale.channel.clone(),
            cashier: sale.cashier.clone(),
            lines: vec![ReturnedLine { sku: "TEE".into(), product_id: Uuid::nil(), quantity: 1, amount: eur(2400) }],
            amount: eur(2400),
            reason: "too small".into(),
            restocked: true,
            created_at: at() + chrono::TimeDelta::days(1),
        };
        let text = render(&sale, None, &[back]);
        assert!(text.starts_with("              PARIS-STORE\n"), "{text}");
        assert!(text.contains("\nCard                               58.55\n"), "{text}");
        assert!(!text.contains("Change"));
        assert!(text.contains("\nReturned 2026-03-02 09:30 UTC\n  1 x Tee shirt                   -24.00\n"), "{text}");
        assert!(text.contains("\nRefunded                          -24.00\n"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH));
    }

    #[test]
    fn amounts_follow_their_currency() {
        assert_eq!(eur(-334).major_units(), "-3.34");
        assert_eq!(eur(5).major_units(), "0.05");
        assert_eq!(Money::new(1500, "JPY".parse().unwrap()).major_units(), "1500");
        assert_eq!(percent(Decimal::new(20, 2)), "20%");
        assert_eq!(percent(Decimal::ZERO), "0%");
        assert_eq!(spread(&"x".repeat(50), "12.00").chars().count(), WIDTH);
    }
}
