//! Inventory rules without I/O: reading and checking requests, allocating a reservation across
//! locations, the low-stock crossing and the reservation life cycle.

use std::collections::HashMap;

use comptoir_contracts::inventory::{
    AdjustStock, LocationKind, NewLocation, ReceiveStock, ReservationStatus, ReserveStock, RestockUnits, SkuStock,
    StockLevel,
};
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{Error, Result, validate};

pub const DEFAULT_TTL_SECONDS: u64 = 900;
pub const MAX_TTL_SECONDS: u64 = 86_400;
/// As many as a till's sale holds (`comptoir_contracts::pos::MAX_SALE_LINES`); a cart holds fewer.
pub const MAX_RESERVATION_LINES: usize = 200;
/// `available` is asked for a cart's SKUs; this bounds the query, not a business rule.
pub const MAX_AVAILABILITY_SKUS: usize = 500;
/// One request never moves more than this many units of a SKU.
const MAX_UNITS: i64 = 1_000_000;
const MAX_SKU_LEN: usize = 120;
const MAX_CODE_LEN: usize = 64;
const MAX_TEXT_LEN: usize = 200;

fn sku(field: &str, value: &str) -> Result<String> {
    validate::required_text(field, value, MAX_SKU_LEN)
}

fn optional_text(field: &str, value: Option<String>) -> Result<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::required_text(field, v, MAX_TEXT_LEN).map(Some),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationDraft {
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
}

pub fn parse_new_location(input: NewLocation) -> Result<LocationDraft> {
    let mut p = Problems::default();
    let code = p.check(validate::slug("code", &input.code).and_then(|code| {
        if code.len() > MAX_CODE_LEN {
            Err(Error::validation("code", format!("must be at most {MAX_CODE_LEN} characters")))
        } else {
            Ok(code)
        }
    }));
    let name = p.check(validate::required_text("name", &input.name, MAX_TEXT_LEN));
    p.finish((|| Some(LocationDraft { code: code?, name: name?, kind: input.kind }))())
}

/// Units arriving at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub reference: Option<String>,
}

pub fn parse_receive(input: ReceiveStock) -> Result<Receipt> {
    let mut p = Problems::default();
    let sku = p.check(sku("sku", &input.sku));
    let location = p.check(validate::required_text("location", &input.location, MAX_CODE_LEN));
    let quantity = p.check(validate::positive_quantity("quantity", input.quantity));
    let reference = p.check(optional_text("reference", input.reference));
    p.finish((|| Some(Receipt { sku: sku?, location: location?, quantity: quantity?, reference: reference? }))())
}

/// A correction of on-hand units (a count, damage, loss).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub sku: String,
    pub location: String,
    pub delta: i64,
    pub reason: String,
}

pub fn parse_adjust(input: AdjustStock) -> Result<Adjustment> {
    let mut p = Problems::default();
    let sku = p.check(sku("sku", &input.sku));
    let location = p.check(validate::required_text("location", &input.location, MAX_CODE_LEN));
    let delta = match input.delta {
        0 => {
            p.add("delta", "must not be zero");
            None
        }
        d if d.unsigned_abs() > MAX_UNITS as u64 => {
            p.add("delta", format!("must be between -{MAX_UNITS} and {MAX_UNITS}"));
            None
        }
        d => Some(d),
    };
    let reason = p.check(validate::required_text("reason", &input.reason, MAX_TEXT_LEN));
    p.finish((|| Some(Adjustment { sku: sku?, location: location?, delta: delta?, reason: reason? }))())
}

/// Returned units going back on a location's shelf, once per reference and SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restock {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub reference: String,
}

pub fn parse_restock(input: RestockUnits) -> Result<Restock> {
    let mut p = Problems::default();
    let sku = p.check(sku("sku", &input.sku));
    let location = p.check(validate::required_text("location", &input.location, MAX_CODE_LEN));
    let quantity = p.check(validate::positive_quantity("quantity", input.quantity));
    // The reference is what makes a retry harmless: it cannot be left out.
    let reference = p.check(validate::required_text("reference", &input.reference, MAX_TEXT_LEN));
    p.finish((|| Some(Restock { sku: sku?, location: location?, quantity: quantity?, reference: reference? }))())
}

pub fn parse_threshold(threshold: Option<i64>) -> Result<Option<i64>> {
    match threshold {
        Some(t) if t < 0 => Err(Error::validation("threshold", "must be zero or more")),
        other => Ok(other),
    }
}

/// The SKUs `available` was asked about, without repeats, in the order given.
pub fn parse_sku_list(skus: &[String]) -> Result<Vec<String>> {
    if skus.len() > MAX_AVAILABILITY_SKUS {
        return Err(Error::validation("skus", format!("at most {MAX_AVAILABILITY_SKUS} SKUs at a time")));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(skus.iter().filter(|s| seen.insert(s.as_str())).cloned().collect())
}

/// One SKU to reserve. `index` is the first request line that named it, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedLine {
    pub index: usize,
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub reference: String,
    /// One line per SKU: lines naming the same SKU are summed.
    pub lines: Vec<WantedLine>,
    pub ttl_seconds: u64,
    /// The only location to take units from (its code), or `None` for any.
    pub location: Option<String>,
}

pub fn parse_reserve(input: ReserveStock) -> Result<ReservationRequest> {
    let mut p = Problems::default();
    let reference = p.check(validate::required_text("reference", &input.reference, MAX_TEXT_LEN));
    if input.lines.is_empty() {
        p.add("lines", "must not be empty");
    }
    if input.lines.len() > MAX_RESERVATION_LINES {
        p.add("lines", format!("at most {MAX_RESERVATION_LINES} lines"));
    }
    let mut lines: Vec<WantedLine> = Vec::with_capacity(input.lines.len());
    let mut by_sku: HashMap<String, usize> = HashMap::new();
    for (index, line) in input.lines.iter().enumerate() {
        let sku = p.check(sku(&format!("lines[{index}].sku"), &line.sku));
        let quantity = p.check(validate::positive_quantity(&format!("lines[{index}].quantity"), line.quantity));
        let (Some(sku), Some(quantity)) = (sku, quantity) else { continue };
        match by_sku.get(&sku) {
            Some(&at) => {
                let total = lines[at].quantity + quantity;
                if total > MAX_UNITS {
                    p.add(format!("lines[{index}].quantity"), format!("SKU {sku} totals more than {MAX_UNITS}"));
                }
                lines[at].quantity = total;
            }
            None => {
                by_sku.insert(sku.clone(), lines.len());
                lines.push(WantedLine { index, sku, quantity });
            }
        }
    }
    let ttl_seconds = input.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl_seconds) {
        p.add("ttl_seconds", format!("must be between 1 and {MAX_TTL_SECONDS}"));
    }
    // Given, it must name a location: a blank one is a mistake, not "anywhere".
    let location = match input.location {
        None => Some(None),
        Some(code) => p.check(validate::required_text("location", &code, MAX_CODE_LEN)).map(Some),
    };
    p.finish((|| Some(ReservationRequest { reference: reference?, lines, ttl_seconds, location: location? }))())
}

/// What a SKU has left at one location when a reservation is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub sku: String,
    pub location_id: String,
    /// The location's code.
    pub location: String,
    pub available: i64,
}

/// Units of one SKU to hold at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub sku: String,
    pub location_id: String,
    pub location: String,
    pub quantity: i64,
}

/// A line that cannot be covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub index: usize,
    pub sku: String,
    pub available: i64,
    /// The location the reservation was limited to, if it was.
    pub location: Option<String>,
}

impl From<Shortage> for Error {
    fn from(s: Shortage) -> Error {
        let at = s.location.map(|code| format!(" at {code}")).unwrap_or_default();
        Error::conflict_on(
            "insufficient-stock",
            format!("lines[{}].quantity", s.index),
            format!("only {} available for SKU {}{at}", s.available, s.sku),
        )
    }
}

/// The stock a reservation may draw from: every location's, or only `location`'s (by code).
pub fn drawable(stock: Vec<Availability>, location: Option<&str>) -> Vec<Availability> {
    match location {
        None => stock,
        Some(code) => stock.into_iter().filter(|a| a.location == code).collect(),
    }
}

/// Spreads every line over the locations holding its SKU, the one with the most available first,
/// so that a reservation is split across as few locations as possible. All lines or none: the first
/// line that cannot be covered is reported.
pub fn allocate(lines: &[WantedLine], stock: &[Availability]) -> Result<Vec<Allocation>, Shortage> {
    let mut allocations = Vec::new();
    for line in lines {
        let mut sources: Vec<&Availability> = stock.iter().filter(|a| a.sku == line.sku && a.available > 0).collect();
        // Ties go to the location code so the same stock always splits the same way.
        sources.sort_by(|a, b| b.available.cmp(&a.available).then_with(|| a.location.cmp(&b.location)));
        let total: i64 = sources.iter().map(|a| a.available).sum();
        if total < line.quantity {
            return Err(Shortage { index: line.index, sku: line.sku.clone(), available: total, location: None });
        }
        let mut remaining = line.quantity;
        for source in sources {
            if remaining == 0 {
                break;
            }
            let take = remaining.min(source.available);
            allocations.push(Allocation {
                sku: line.sku.clone(),
                location_id: source.location_id.clone(),
                location: source.location.clone(),
                quantity: take,
            });
            remaining -= take;
        }
    }
    Ok(allocations)
}

/// Whether a change took a SKU's available units from above its threshold to at or below it.
/// Only the crossing alerts: a SKU already low does not alert again on every sale.
pub fn crosses_low_stock(threshold: i64, before: i64, after: i64) -> bool {
    before > threshold && after <= threshold
}

/// A SKU's stock at one location, with the location's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub location_id: String,
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
}

pub fn sku_stock(sku: &str, levels: &[Level], threshold: Option<i64>) -> SkuStock {
    let on_hand = levels.iter().map(|l| l.on_hand).sum();
    let reserved = levels.iter().map(|l| l.reserved).sum();
    SkuStock {
        sku: sku.to_string(),
        levels: levels
            .iter()
            .map(|l| StockLevel {
                location: l.location.clone(),
                on_hand: l.on_hand,
                reserved: l.reserved,
                available: l.on_hand - l.reserved,
            })
            .collect(),
        on_hand,
        reserved,
        available: on_hand - reserved,
        low_stock_threshold: threshold,
    }
}

/// The units of one SKU a change moved, and the locations it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuMove {
    pub sku: String,
    pub location_ids: Vec<String>,
    pub units: i64,
}

/// Groups `(sku, location id, units)` parts by SKU, in the order SKUs first appear.
pub fn group_by_sku<'a>(parts: impl IntoIterator<Item = (&'a str, &'a str, i64)>) -> Vec<SkuMove> {
    let mut moves: Vec<SkuMove> = Vec::new();
    for (sku, location_id, units) in parts {
        match moves.iter_mut().find(|m| m.sku == sku) {
            Some(m) => {
                m.units += units;
                if !m.location_ids.iter().any(|l| l == location_id) {
                    m.location_ids.push(location_id.to_string());
                }
            }
            None => moves.push(SkuMove { sku: sku.to_string(), location_ids: vec![location_id.to_string()], units }),
        }
    }
    moves
}

/// What a commit or a release does to a reservation in a given status.
#[derive(Debug)]
pub enum Transition {
    /// The reservation is active: move the units.
    Apply,
    /// Already done (a retried call): answer with the reservation as it is.
    AlreadyDone,
    Refuse(Error),
}

pub fn commit_transition(status: ReservationStatus) -> Transition {
    match status {
        ReservationStatus::Active => Transition::Apply,
        ReservationStatus::Committed => Transition::AlreadyDone,
        ReservationStatus::Released | ReservationStatus::Expired => Transition::Refuse(Error::conflict(
            "reservation-not-active",
            format!("the reservation was {}; its units are no longer held", status_word(status)),
        )),
    }
}

pub fn release_transition(status: ReservationStatus) -> Transition {
    match status {
        ReservationStatus::Active => Transition::Apply,
        ReservationStatus::Released | ReservationStatus::Expired => Transition::AlreadyDone,
        ReservationStatus::Committed => Transition::Refuse(Error::conflict(
            "reservation-not-active",
            "the reservation was committed; its units have left stock",
        )),
    }
}

fn status_word(status: ReservationStatus) -> &'static str {
    match status {
        ReservationStatus::Active => "active",
        ReservationStatus::Committed => "committed",
        ReservationStatus::Released => "released",
        ReservationStatus::Expired => "expired",
    }
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::inventory::ReservationLineInput;

    use super::*;

    fn fields(e: &Error) -> Vec<&str> {
        e.field_errors().iter().map(|f| f.field.as_str()).collect()
    }

    fn reserve(lines: &[(&str, i64)], ttl: Option<u64>) -> ReserveStock {
        ReserveStock {
            reference: "order-1".into(),
            lines: lines
                .iter()
                .map(|(sku, quantity)| ReservationLineInput { sku: sku.to_string(), quantity: *quantity })
                .collect(),
            ttl_seconds: ttl,
            location: None,
        }
    }

    fn stock(sku: &str, location: &str, available: i64) -> Availability {
        Availability { sku: sku.into(), location_id: format!("id-{location}"), location: location.into(), available }
    }

    #[test]
    fn locations_need_a_slug_code_and_a_name() {
        let ok = parse_new_location(NewLocation {
            code: " paris-wh ".into(),
            name: " Paris ".into(),
            kind: LocationKind::Warehouse,
        });
        assert_eq!(
            ok.unwrap(),
            LocationDraft { code: "paris-wh".into(), name: "Paris".into(), kind: LocationKind::Warehouse }
        );
        let bad =
            parse_new_location(NewLocation { code: "Paris WH".into(), name: " ".into(), kind: LocationKind::Store });
        assert_eq!(fields(&bad.unwrap_err()), ["code", "name"]);
    }

    #[test]
    fn receipts_need_a_positive_quantity() {
        let input = |quantity| ReceiveStock {
            sku: "SKU-1".into(),
            location: "wh".into(),
            quantity,
            reference: Some(" ".into()),
        };
        assert_eq!(parse_receive(input(3)).unwrap().reference, None);
        assert_eq!(fields(&parse_receive(input(0)).unwrap_err()), ["quantity"]);
        assert_eq!(fields(&parse_receive(input(-2)).unwrap_err()), ["quantity"]);
    }

    #[test]
    fn adjustments_need_a_delta_and_a_reason() {
        let input =
            |delta, reason: &str| AdjustStock { sku: "S".into(), location: "wh".into(), delta, reason: reason.into() };
        assert!(parse_adjust(input(-2, "damaged")).is_ok());
        assert_eq!(fields(&parse_adjust(input(0, "count")).unwrap_err()), ["delta"]);
        assert_eq!(fields(&parse_adjust(input(1, "  ")).unwrap_err()), ["reason"]);
    }

    #[test]
    fn thresholds_are_not_negative() {
        assert_eq!(parse_threshold(None).unwrap(), None);
        assert_eq!(parse_threshold(Some(0)).unwrap(), Some(0));
        assert_eq!(fields(&parse_threshold(Some(-1)).unwrap_err()), ["threshold"]);
    }

    #[test]
    fn reservation_lines_are_checked_and_the_same_sku_is_summed() {
        let r = parse_reserve(reserve(&[("A", 1), ("B", 2), ("A", 3)], None)).unwrap();
        assert_eq!(r.ttl_seconds, DEFAULT_TTL_SECONDS);
        assert_eq!(
            r.lines,
            vec![
                WantedLine { index: 0, sku: "A".into(), quantity: 4 },
                WantedLine { index: 1, sku: "B".into(), quantity: 2 }
            ]
        );
        assert_eq!(fields(&parse_reserve(reserve(&[], None)).unwrap_err()), ["lines"]);
        assert_eq!(fields(&parse_reserve(reserve(&[("A", 1), ("B", 0)], None)).unwrap_err()), ["lines[1].quantity"]);
        assert_eq!(fields(&parse_reserve(reserve(&[("A", 1)], Some(86_401))).unwrap_err()), ["ttl_seconds"]);
        assert_eq!(fields(&parse_reserve(reserve(&[("A", 1)], Some(0))).unwrap_err()), ["ttl_seconds"]);
        let many: Vec<(&str, i64)> = vec![("A", 1); MAX_RESERVATION_LINES + 1];
        assert_eq!(fields(&parse_reserve(reserve(&many, None)).unwrap_err()), ["lines"]);
    }

    #[test]
    fn allocation_takes_from_the_fullest_location_first_and_splits() {
        let stock = [stock("A", "lyon", 3), stock("A", "paris", 5), stock("B", "lyon", 2)];
        let lines = [
            WantedLine { index: 0, sku: "A".into(), quantity: 7 },
            WantedLine { index: 1, sku: "B".into(), quantity: 2 },
        ];
        let got = allocate(&lines, &stock).unwrap();
        let got: Vec<(&str, &str, i64)> =
            got.iter().map(|a| (a.sku.as_str(), a.location.as_str(), a.quantity)).collect();
        assert_eq!(got, [("A", "paris", 5), ("A", "lyon", 2), ("B", "lyon", 2)]);
    }

    #[test]
    fn allocation_is_all_or_nothing() {
        let stock = [stock("A", "lyon", 3), stock("B", "lyon", 1), stock("B", "paris", 1)];
        let lines = [
            WantedLine { index: 0, sku: "A".into(), quantity: 1 },
            WantedLine { index: 2, sku: "B".into(), quantity: 3 },
        ];
        let shortage = allocate(&lines, &stock).unwrap_err();
        assert_eq!(shortage, Shortage { index: 2, sku: "B".into(), available: 2, location: None });
        let e = Error::from(shortage);
        assert_eq!((e.status(), e.code()), (409, "insufficient-stock"));
        assert_eq!(fields(&e), ["lines[2].quantity"]);
        assert_eq!(e.to_string(), "only 2 available for SKU B");
    }

    #[test]
    fn a_reservation_limited_to_one_location_draws_only_from_it() {
        let stock = vec![stock("A", "lyon", 3), stock("A", "paris", 9), stock("B", "lyon", 1)];
        let lines = [WantedLine { index: 0, sku: "A".into(), quantity: 3 }];
        let got = allocate(&lines, &drawable(stock.clone(), Some("lyon"))).unwrap();
        assert_eq!((got.len(), got[0].location.as_str(), got[0].quantity), (1, "lyon", 3));

        let lines = [WantedLine { index: 0, sku: "A".into(), quantity: 4 }];
        let mut shortage = allocate(&lines, &drawable(stock.clone(), Some("lyon"))).unwrap_err();
        assert_eq!(shortage.available, 3, "Paris's nine do not count");
        shortage.location = Some("lyon".into());
        assert_eq!(Error::from(shortage).to_string(), "only 3 available for SKU A at lyon");
        assert_eq!(drawable(stock.clone(), None).len(), 3);
        assert!(drawable(stock, Some("nowhere")).is_empty());
    }

    #[test]
    fn a_reservation_location_must_not_be_blank() {
        let mut input = reserve(&[("A", 1)], None);
        input.location = Some(" paris ".into());
        assert_eq!(parse_reserve(input.clone()).unwrap().location.as_deref(), Some("paris"));
        input.location = Some("  ".into());
        assert_eq!(fields(&parse_reserve(input).unwrap_err()), ["location"]);
        assert_eq!(parse_reserve(reserve(&[("A", 1)], None)).unwrap().location, None);
    }

    #[test]
    fn restocks_need_a_positive_quantity_and_a_reference() {
        let input = |quantity, reference: &str| RestockUnits {
            sku: " MUG ".into(),
            location: "paris".into(),
            quantity,
            reference: reference.into(),
        };
        let ok = parse_restock(input(2, " pos-return:1 ")).unwrap();
        assert_eq!(
            ok,
            Restock { sku: "MUG".into(), location: "paris".into(), quantity: 2, reference: "pos-return:1".into() }
        );
        assert_eq!(fields(&parse_restock(input(0, "r")).unwrap_err()), ["quantity"]);
        assert_eq!(fields(&parse_restock(input(-1, " ")).unwrap_err()), ["quantity", "reference"]);
    }

    #[test]
    fn low_stock_alerts_only_on_the_crossing() {
        assert!(crosses_low_stock(5, 6, 5));
        assert!(crosses_low_stock(5, 10, 0));
        assert!(crosses_low_stock(0, 1, 0));
        assert!(!crosses_low_stock(5, 5, 4), "already low");
        assert!(!crosses_low_stock(5, 3, 8), "going up");
        assert!(!crosses_low_stock(5, 7, 6), "still above");
    }

    #[test]
    fn totals_add_up_across_locations() {
        let levels = [
            Level { location_id: "1".into(), location: "lyon".into(), on_hand: 4, reserved: 1 },
            Level { location_id: "2".into(), location: "paris".into(), on_hand: 6, reserved: 6 },
        ];
        let s = sku_stock("A", &levels, Some(2));
        assert_eq!((s.on_hand, s.reserved, s.available), (10, 7, 3));
        assert_eq!(s.levels[1].available, 0);
    }

    #[test]
    fn moves_are_grouped_by_sku() {
        let moves = group_by_sku([("A", "paris", 5), ("B", "lyon", 1), ("A", "lyon", 2)]);
        assert_eq!(moves.len(), 2);
        assert_eq!(moves[0], SkuMove { sku: "A".into(), location_ids: vec!["paris".into(), "lyon".into()], units: 7 });
        assert_eq!(moves[1].units, 1);
    }

    #[test]
    fn commit_and_release_are_idempotent_and_exclusive() {
        use ReservationStatus::*;
        assert!(matches!(commit_transition(Active), Transition::Apply));
        assert!(matches!(commit_transition(Committed), Transition::AlreadyDone));
        assert!(matches!(commit_transition(Expired), Transition::Refuse(e) if e.code() == "reservation-not-active"));
        assert!(matches!(release_transition(Released), Transition::AlreadyDone));
        assert!(matches!(release_transition(Expired), Transition::AlreadyDone));
        assert!(matches!(release_transition(Committed), Transition::Refuse(e) if e.status() == 409));
    }
}
