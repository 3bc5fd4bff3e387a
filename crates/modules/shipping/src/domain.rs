//! Shipping rules without I/O: reading and checking zones, methods and quote requests, pricing a
//! parcel with a method, the order of a shipment's statuses and the shape of tracking numbers.

use std::cmp::Ordering;

use comptoir_contracts::shipping::events;
use comptoir_contracts::shipping::{
    NewShippingMethod, NewZone, Quote, QuoteRequest, Rate, ShipmentStatus, ShippingMethod, WeightBracket,
};
use comptoir_kernel::country::is_iso_alpha2;
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{Currency, Error, Money, Result, validate};

const MAX_NAME_LEN: usize = 200;
const MAX_CODE_LEN: usize = 64;
const MAX_CARRIER_LEN: usize = 100;
const MAX_NOTE_LEN: usize = 500;
const MAX_BRACKETS: usize = 50;
/// No parcel weighs more than a tonne; this keeps weight arithmetic far from overflow.
pub const MAX_WEIGHT_GRAMS: i64 = 1_000_000;
/// Digits after the carrier prefix of a tracking number.
const TRACKING_DIGITS: u32 = 12;

/// An uppercase ISO 3166-1 alpha-2 code.
fn country(field: &str, value: &str) -> Result<String> {
    let code = value.trim().to_ascii_uppercase();
    if is_iso_alpha2(&code) {
        Ok(code)
    } else {
        Err(Error::validation(field, "must be an ISO 3166-1 alpha-2 country code such as FR or DE"))
    }
}

fn not_negative(field: &str, value: i64) -> Result<i64> {
    if value < 0 { Err(Error::validation(field, "must be zero or more")) } else { Ok(value) }
}

// ---- Zones ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneDraft {
    pub name: String,
    /// Uppercase, without repeats, in the order given.
    pub countries: Vec<String>,
}

pub fn parse_new_zone(input: NewZone) -> Result<ZoneDraft> {
    let mut p = Problems::default();
    let name = p.check(validate::required_text("name", &input.name, MAX_NAME_LEN));
    if input.countries.is_empty() {
        p.add("countries", "must list at least one country");
    }
    let mut countries: Vec<String> = Vec::with_capacity(input.countries.len());
    for (i, value) in input.countries.iter().enumerate() {
        if let Some(code) = p.check(country(&format!("countries[{i}]"), value))
            && !countries.contains(&code)
        {
            countries.push(code);
        }
    }
    p.finish(name.map(|name| ZoneDraft { name, countries }))
}

// ---- Methods -------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct MethodDraft {
    pub code: String,
    pub name: String,
    pub carrier: String,
    pub currency: Currency,
    pub rate: Rate,
    pub free_above: Option<i64>,
    pub delivery_days: Option<i64>,
}

/// Checks everything but the zone, which only the store can find.
pub fn parse_new_method(input: NewShippingMethod) -> Result<MethodDraft> {
    let mut p = Problems::default();
    let code = p.check(validate::slug("code", &input.code).and_then(|code| {
        if code.len() > MAX_CODE_LEN {
            Err(Error::validation("code", format!("must be at most {MAX_CODE_LEN} characters")))
        } else {
            Ok(code)
        }
    }));
    let name = p.check(validate::required_text("name", &input.name, MAX_NAME_LEN));
    let carrier = p.check(validate::required_text("carrier", &input.carrier, MAX_CARRIER_LEN));
    let rate = check_rate(&mut p, input.rate);
    if let Some(free_above) = input.free_above {
        p.check(not_negative("free_above", free_above));
    }
    if let Some(days) = input.delivery_days {
        p.check(not_negative("delivery_days", days));
    }
    p.finish((|| {
        Some(MethodDraft {
            code: code?,
            name: name?,
            carrier: carrier?,
            currency: input.currency,
            rate: rate?,
            free_above: input.free_above,
            delivery_days: input.delivery_days,
        })
    })())
}

fn check_rate(p: &mut Problems, rate: Rate) -> Option<Rate> {
    match &rate {
        Rate::Flat { amount } => {
            p.check(not_negative("rate.amount", *amount))?;
        }
        Rate::WeightBased { brackets } => {
            if brackets.is_empty() {
                p.add("rate.brackets", "must have at least one bracket");
                return None;
            }
            if brackets.len() > MAX_BRACKETS {
                p.add("rate.brackets", format!("at most {MAX_BRACKETS} brackets"));
                return None;
            }
            let before = p.len();
            let mut previous: Option<i64> = None;
            for (i, WeightBracket { up_to_grams, amount }) in brackets.iter().enumerate() {
                let field = format!("rate.brackets[{i}].up_to_grams");
                if *up_to_grams <= 0 {
                    p.add(field, "must be greater than zero");
                } else if *up_to_grams > MAX_WEIGHT_GRAMS {
                    p.add(field, format!("must be at most {MAX_WEIGHT_GRAMS}"));
                } else if let Some(previous) = previous.filter(|prev| up_to_grams <= prev) {
                    p.add(field, format!("must be greater than the previous bracket's {previous}"));
                }
                previous = Some(*up_to_grams);
                p.check(not_negative(&format!("rate.brackets[{i}].amount"), *amount));
            }
            if p.len() > before {
                return None;
            }
        }
    }
    Some(rate)
}

// ---- Quotes --------------------------------------------------------------------------------

/// A checked quote request: where the parcel goes, what it weighs, what the order is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parcel {
    pub country: String,
    pub weight_grams: i64,
    pub subtotal: Money,
}

pub fn parse_quote_request(request: QuoteRequest) -> Result<Parcel> {
    let mut p = Problems::default();
    let country = p.check(country("country", &request.country));
    let weight_grams = match request.weight_grams {
        w if w < 0 => {
            p.add("weight_grams", "must be zero or more");
            None
        }
        w if w > MAX_WEIGHT_GRAMS => {
            p.add("weight_grams", format!("must be at most {MAX_WEIGHT_GRAMS}"));
            None
        }
        w => Some(w),
    };
    p.check(not_negative("subtotal.amount", request.subtotal.amount));
    p.finish((|| Some(Parcel { country: country?, weight_grams: weight_grams?, subtotal: request.subtotal }))())
}

/// Why a method that covers the destination country cannot take a parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// The method is priced in another currency than the order.
    Currency(Currency),
    /// Heavier than the method's last weight bracket.
    TooHeavy { max_grams: i64 },
}

impl Unserved {
    pub fn describe(&self, method: &str, parcel: &Parcel) -> String {
        match self {
            Unserved::Currency(currency) => {
                format!("{method} is priced in {currency}, not in the order's {}", parcel.subtotal.currency)
            }
            Unserved::TooHeavy { max_grams } => {
                format!("{method} takes parcels of at most {max_grams} g, this one weighs {} g", parcel.weight_grams)
            }
        }
    }
}

/// What `method` charges for `parcel`, assuming its zone covers the destination. A parcel too heavy
/// for the last bracket is not served even when the order qualifies for free shipping: free or not,
/// the carrier will not take it.
pub fn price(method: &ShippingMethod, parcel: &Parcel) -> Result<Money, Unserved> {
    if method.currency != parcel.subtotal.currency {
        return Err(Unserved::Currency(method.currency));
    }
    let amount = match &method.rate {
        Rate::Flat { amount } => *amount,
        Rate::WeightBased { brackets } => brackets
            .iter()
            .find(|b| parcel.weight_grams <= b.up_to_grams)
            .map(|b| b.amount)
            .ok_or(Unserved::TooHeavy { max_grams: brackets.last().map_or(0, |b| b.up_to_grams) })?,
    };
    let free = method.free_above.is_some_and(|threshold| parcel.subtotal.amount >= threshold);
    Ok(Money::new(if free { 0 } else { amount }, method.currency))
}

pub fn quote(method: &ShippingMethod, price: Money) -> Quote {
    Quote {
        method: method.code.clone(),
        name: method.name.clone(),
        carrier: method.carrier.clone(),
        price,
        delivery_days: method.delivery_days,
    }
}

/// Cheapest first, then by name, then by code so that equal offers always come in the same order.
pub fn sort_quotes(quotes: &mut [Quote]) {
    quotes.sort_by(|a, b| {
        a.price.amount.cmp(&b.price.amount).then_with(|| a.name.cmp(&b.name)).then_with(|| a.method.cmp(&b.method))
    });
}

// ---- Shipments -----------------------------------------------------------------------------

fn rank(status: ShipmentStatus) -> u8 {
    match status {
        ShipmentStatus::LabelCreated => 0,
        ShipmentStatus::Shipped => 1,
        ShipmentStatus::InTransit => 2,
        ShipmentStatus::Delivered => 3,
    }
}

/// How a reported status relates to the shipment's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Later in the journey (skipping statuses is fine: a carrier may never report `shipped`).
    Forward,
    /// The status it already has.
    Same,
    /// Earlier in the journey.
    Backward,
}

pub fn step(from: ShipmentStatus, to: ShipmentStatus) -> Step {
    match rank(to).cmp(&rank(from)) {
        Ordering::Greater => Step::Forward,
        Ordering::Equal => Step::Same,
        Ordering::Less => Step::Backward,
    }
}

pub fn invalid_transition(from: ShipmentStatus, to: ShipmentStatus) -> Error {
    Error::conflict_on(
        "invalid-tracking-transition",
        "status",
        format!("a shipment that is {} cannot become {}", status_to_db(from), status_to_db(to)),
    )
}

/// The event announcing that a shipment reached `status`; `None` for the first status, which
/// `shipping.shipment.created` announces.
pub fn status_event(status: ShipmentStatus) -> Option<&'static str> {
    match status {
        ShipmentStatus::LabelCreated => None,
        ShipmentStatus::Shipped => Some(events::SHIPMENT_SHIPPED),
        ShipmentStatus::InTransit => Some(events::SHIPMENT_IN_TRANSIT),
        ShipmentStatus::Delivered => Some(events::SHIPMENT_DELIVERED),
    }
}

pub fn status_to_db(status: ShipmentStatus) -> &'static str {
    match status {
        ShipmentStatus::LabelCreated => "label_created",
        ShipmentStatus::Shipped => "shipped",
        ShipmentStatus::InTransit => "in_transit",
        ShipmentStatus::Delivered => "delivered",
    }
}

pub fn status_from_db(value: &str) -> Result<ShipmentStatus> {
    match value {
        "label_created" => Ok(ShipmentStatus::LabelCreated),
        "shipped" => Ok(ShipmentStatus::Shipped),
        "in_transit" => Ok(ShipmentStatus::InTransit),
        "delivered" => Ok(ShipmentStatus::Delivered),
        other => Err(Error::internal(format!("unknown shipment status {other:?} in the database"))),
    }
}

/// A tracking note: trimmed, empty means none.
pub fn parse_note(note: Option<String>) -> Result<Option<String>> {
    match note.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::required_text("note", v, MAX_NOTE_LEN).map(Some),
    }
}

/// `<prefix><12 digits>`: up to three letters or digits of the carrier's name (`COL` for
/// Colissimo, `SHP` when it has none), then digits drawn from `random`. Only uppercase letters and
/// digits, so the number fits in a URL and in a Code 39 barcode.
pub fn tracking_number(carrier: &str, random: u64) -> String {
    let prefix: String =
        carrier.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).take(3).collect();
    let prefix = if prefix.is_empty() { "SHP".to_string() } else { prefix };
    let digits = random % 10u64.pow(TRACKING_DIGITS);
    format!("{prefix}{digits:0width$}", width = TRACKING_DIGITS as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn fields(e: &Error) -> Vec<&str> {
        e.field_errors().iter().map(|f| f.field.as_str()).collect()
    }

    fn method_input(rate: Rate) -> NewShippingMethod {
        NewShippingMethod {
            code: "standard".into(),
            name: "Standard".into(),
            carrier: "Colissimo".into(),
            zone_id: Uuid::nil(),
            currency: Currency::EUR,
            rate,
            free_above: None,
            delivery_days: Some(3),
        }
    }

    fn method(rate: Rate, free_above: Option<i64>) -> ShippingMethod {
        ShippingMethod {
            id: Uuid::nil(),
            code: "standard".into(),
            name: "Standard".into(),
            carrier: "Colissimo".into(),
            zone_id: Uuid::nil(),
            currency: Currency::EUR,
            rate,
            free_above,
            delivery_days: None,
            active: true,
        }
    }

    fn parcel(weight_grams: i64, subtotal: i64) -> Parcel {
        Parcel { country: "FR".into(), weight_grams, subtotal: Money::new(subtotal, Currency::EUR) }
    }

    fn brackets(list: &[(i64, i64)]) -> Rate {
        Rate::WeightBased {
            brackets: list.iter().map(|&(up_to_grams, amount)| WeightBracket { up_to_grams, amount }).collect(),
        }
    }

    #[test]
    fn zones_uppercase_and_deduplicate_countries() {
        let zone =
            parse_new_zone(NewZone { name: " EU ".into(), countries: vec!["fr".into(), " DE".into(), "FR".into()] })
                .unwrap();
        assert_eq!(zone, ZoneDraft { name: "EU".into(), countries: vec!["FR".into(), "DE".into()] });

        let e = parse_new_zone(NewZone { name: "".into(), countries: vec!["FR".into(), "UK".into()] }).unwrap_err();
        assert_eq!(fields(&e), ["name", "countries[1]"]);
        let e = parse_new_zone(NewZone { name: "EU".into(), countries: vec![] }).unwrap_err();
        assert_eq!(fields(&e), ["countries"]);
    }

    #[test]
    fn methods_are_checked_field_by_field() {
        assert!(parse_new_method(method_input(Rate::Flat { amount: 0 })).is_ok());
        let bad = NewShippingMethod {
            code: "Not Ok".into(),
            name: " ".into(),
            carrier: "".into(),
            free_above: Some(-1),
            delivery_days: Some(-2),
            ..method_input(Rate::Flat { amount: -5 })
        };
        let e = parse_new_method(bad).unwrap_err();
        assert_eq!(fields(&e), ["code", "name", "carrier", "rate.amount", "free_above", "delivery_days"]);
    }

    #[test]
    fn weight_brackets_must_rise_strictly() {
        assert!(parse_new_method(method_input(brackets(&[(500, 400), (2000, 700)]))).is_ok());
        let e = parse_new_method(method_input(brackets(&[]))).unwrap_err();
        assert_eq!(fields(&e), ["rate.brackets"]);
        let e = parse_new_method(method_input(brackets(&[(0, 100), (500, -1), (500, 300), (400, 200)]))).unwrap_err();
        assert_eq!(
            fields(&e),
            [
                "rate.brackets[0].up_to_grams",
                "rate.brackets[1].amount",
                "rate.brackets[2].up_to_grams",
                "rate.brackets[3].up_to_grams"
            ]
        );
    }

    #[test]
    fn quote_requests_are_checked() {
        let ok = QuoteRequest {
            country: " fr ".into(),
            region: None,
            weight_grams: 0,
            subtotal: Money::new(1000, Currency::EUR),
        };
        assert_eq!(parse_quote_request(ok.clone()).unwrap().country, "FR");
        let e = parse_quote_request(QuoteRequest { country: "XX".into(), weight_grams: -1, ..ok }).unwrap_err();
        assert_eq!(fields(&e), ["country", "weight_grams"]);
    }

    #[test]
    fn flat_rates_and_free_shipping_thresholds() {
        let m = method(Rate::Flat { amount: 490 }, Some(5000));
        assert_eq!(price(&m, &parcel(100_000, 4999)), Ok(Money::new(490, Currency::EUR)));
        assert_eq!(price(&m, &parcel(100_000, 5000)), Ok(Money::new(0, Currency::EUR)), "at the threshold: free");
        let other_currency = Parcel { subtotal: Money::new(10, Currency::USD), ..parcel(1, 0) };
        assert_eq!(price(&m, &other_currency), Err(Unserved::Currency(Currency::EUR)));
    }

    #[test]
    fn weight_brackets_take_the_first_that_fits() {
        let m = method(brackets(&[(500, 400), (2000, 700)]), Some(10_000));
        let eur = |amount| Ok(Money::new(amount, Currency::EUR));
        assert_eq!(price(&m, &parcel(0, 0)), eur(400));
        assert_eq!(price(&m, &parcel(500, 0)), eur(400), "up to and including the bracket's weight");
        assert_eq!(price(&m, &parcel(501, 0)), eur(700));
        assert_eq!(price(&m, &parcel(2000, 0)), eur(700));
        assert_eq!(price(&m, &parcel(2001, 0)), Err(Unserved::TooHeavy { max_grams: 2000 }));
        assert_eq!(price(&m, &parcel(2001, 20_000)), Err(Unserved::TooHeavy { max_grams: 2000 }), "free or not");
        assert_eq!(price(&m, &parcel(1500, 10_000)), eur(0));
    }

    #[test]
    fn quotes_sort_by_price_then_name() {
        let q = |method: &str, name: &str, amount| Quote {
            method: method.into(),
            name: name.into(),
            carrier: "C".into(),
            price: Money::new(amount, Currency::EUR),
            delivery_days: None,
        };
        let mut quotes = vec![q("b", "Beta", 500), q("x", "Zeta", 100), q("a", "Alpha", 500)];
        sort_quotes(&mut quotes);
        let order: Vec<_> = quotes.iter().map(|q| q.method.as_str()).collect();
        assert_eq!(order, ["x", "a", "b"]);
    }

    #[test]
    fn statuses_only_move_forward() {
        use ShipmentStatus::*;
        assert_eq!(step(LabelCreated, Shipped), Step::Forward);
        assert_eq!(step(LabelCreated, Delivered), Step::Forward);
        assert_eq!(step(InTransit, InTransit), Step::Same);
        assert_eq!(step(Delivered, Shipped), Step::Backward);
        assert_eq!(invalid_transition(Delivered, Shipped).code(), "invalid-tracking-transition");
        for s in [LabelCreated, Shipped, InTransit, Delivered] {
            assert_eq!(status_from_db(status_to_db(s)).unwrap(), s);
        }
        assert!(status_event(LabelCreated).is_none());
        assert_eq!(status_event(InTransit), Some(events::SHIPMENT_IN_TRANSIT));
    }

    #[test]
    fn tracking_numbers_have_a_carrier_prefix_and_twelve_digits() {
        assert_eq!(tracking_number("Colissimo", 42), "COL000000000042");
        assert_eq!(tracking_number("dhl", u64::MAX), "DHL073709551615");
        assert_eq!(tracking_number("La Poste", 1_234_567_890_123), "LAP234567890123");
        assert_eq!(tracking_number("??", 7), "SHP000000000007");
        assert_eq!(tracking_number("UPS", u64::MAX).len(), 15);
    }

    #[test]
    fn notes_are_trimmed_and_bounded() {
        assert_eq!(parse_note(Some("  ".into())).unwrap(), None);
        assert_eq!(parse_note(Some(" Left the hub ".into())).unwrap().as_deref(), Some("Left the hub"));
        assert_eq!(fields(&parse_note(Some("x".repeat(501))).unwrap_err()), ["note"]);
    }
}
