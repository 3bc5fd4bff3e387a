//! What happens after the cart: tax rules (billing) and shipping zones and methods (shipping).

use std::str::FromStr;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use comptoir_contracts::billing::{NewTaxRule, TaxRule};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::shipping::{NewShippingMethod, NewZone, Rate, ShippingMethod, Zone};
use comptoir_kernel::country::is_iso_alpha2;
use comptoir_kernel::{Currency, Error, Money, Page, PageRequest};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::date;
use crate::session::{FlashKind, Session};
use crate::storefront::{Pager, shop};
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/tax-rules", get(tax_rules).post(create_tax_rule))
        .route("/tax-rules/{id}/delete", post(delete_tax_rule))
        .route("/shipping", get(shipping))
        .route("/shipping/zones", post(create_zone))
        .route("/shipping/methods", post(create_method))
        .route("/shipping/methods/{code}/active", post(set_method_active))
}

// ---- Tax rules -----------------------------------------------------------------------------

const TAX_RULES_PER_PAGE: u32 = 50;

/// A rate as people write it: `0.2` is `20 %`, `0.055` is `5.5 %`.
fn percent(rate: Decimal) -> String {
    format!("{} %", (rate * Decimal::ONE_HUNDRED).normalize())
}

/// `20` or `5,5` (a percentage) as the rate billing stores (`0.2`, `0.055`); an error beside the
/// field otherwise.
fn parse_percent(value: &str, errors: &mut FormErrors) -> Option<Decimal> {
    let value = value.trim().trim_end_matches('%').trim().replace(',', ".");
    if value.is_empty() {
        errors.add("rate", "Enter the rate as a percentage, such as 20 or 5.5.");
        return None;
    }
    match Decimal::from_str(&value) {
        Ok(pct) if pct >= Decimal::ZERO && pct <= Decimal::ONE_HUNDRED => {
            Some((pct / Decimal::ONE_HUNDRED).normalize())
        }
        Ok(_) => {
            errors.add("rate", "The rate must be between 0 and 100 %.");
            None
        }
        Err(_) => {
            errors.add("rate", "Enter the rate as a percentage, such as 20 or 5.5.");
            None
        }
    }
}

struct TaxRuleRow {
    id: String,
    country: String,
    region: String,
    rate: String,
    label: String,
    created: String,
}

impl TaxRuleRow {
    fn new(rule: &TaxRule) -> TaxRuleRow {
        TaxRuleRow {
            id: rule.id.to_string(),
            country: rule.country.clone(),
            region: rule.region.clone().unwrap_or_default(),
            rate: percent(rule.rate),
            label: rule.label.clone(),
            created: date(&rule.created_at),
        }
    }
}

/// The new-rule form's values, to show them again.
#[derive(Default)]
struct TaxRuleForm {
    country: String,
    region: String,
    rate: String,
    label: String,
}

#[derive(Template)]
#[template(path = "backoffice/tax_rules.html")]
struct TaxRulesPage {
    chrome: Chrome,
    rules: Vec<TaxRuleRow>,
    total: u64,
    pager: Pager,
    form: TaxRuleForm,
    errors: FormErrors,
}

async fn tax_rules_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    page: u32,
    form: TaxRuleForm,
    errors: FormErrors,
) -> Result<TaxRulesPage, PageError> {
    let request = PageRequest { page, per_page: TAX_RULES_PER_PAGE };
    let found = state.billing.list_tax_rules(&session.ctx, request).await?;
    Ok(TaxRulesPage {
        chrome,
        rules: found.items.iter().map(TaxRuleRow::new).collect(),
        total: found.total,
        pager: Pager::new("/tax-rules", &[], page, TAX_RULES_PER_PAGE, found.total),
        form,
        errors,
    })
}

async fn tax_rules(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::BillingManage), "/tax-rules").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let page = FormData::from_query(raw).page_number();
    let form = TaxRuleForm::default();
    Ok(render(&tax_rules_page(&state, &session, chrome, page, form, FormErrors::default()).await?))
}

async fn create_tax_rule(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::BillingManage), "/tax-rules").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let values = TaxRuleForm {
        country: form.text("country").to_ascii_uppercase(),
        region: form.text("region"),
        rate: form.text("rate"),
        label: form.text("label"),
    };
    let mut errors = FormErrors::default();
    if values.country.is_empty() {
        errors.add("country", "Enter the country's two-letter code, such as FR.");
    } else if !is_iso_alpha2(&values.country) {
        errors.add("country", "Enter a two-letter ISO country code, such as FR or DE.");
    }
    let rate = parse_percent(&values.rate, &mut errors);
    if values.label.is_empty() {
        errors.add("label", "Enter the label printed on invoices, such as VAT 20%.");
    }
    if let (true, Some(rate)) = (errors.is_empty(), rate) {
        let input = NewTaxRule {
            country: values.country.clone(),
            region: form.optional("region"),
            rate,
            label: values.label.clone(),
        };
        match state.billing.create_tax_rule(&session.ctx, input).await {
            Ok(rule) => {
                let text = format!("Tax rule {} for {} saved.", percent(rule.rate), rule.country);
                return Ok(redirect_with(&session, "/tax-rules", FlashKind::Success, &text));
            }
            Err(error) => errors.absorb(error, str::to_string)?,
        }
    }
    let page = tax_rules_page(&state, &session, chrome, 1, values, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

async fn delete_tax_rule(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::BillingManage), "/tax-rules").await {
        return Ok(response);
    }
    let id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("tax rule", &id)))?;
    match state.billing.delete_tax_rule(&session.ctx, id).await {
        Ok(()) => Ok(redirect_with(&session, "/tax-rules", FlashKind::Success, "Tax rule deleted.")),
        // Deleted already (a second click): the list shows what is left.
        Err(error) if error.status() == 404 => {
            Ok(redirect_with(&session, "/tax-rules", FlashKind::Error, "That tax rule no longer exists."))
        }
        Err(error) => Err(error.into()),
    }
}

// ---- Shipping ------------------------------------------------------------------------------

/// Zones and methods are few; a page shows them all, up to this many.
const SHIPPING_LIST_LIMIT: usize = 500;

/// Every item of a paginated list, 100 at a time, up to `limit`; `true` when there were more.
async fn all_of<T, F, Fut>(limit: usize, mut fetch: F) -> Result<(Vec<T>, bool), Error>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let mut items = Vec::new();
    for page in 1.. {
        let found = fetch(PageRequest { page, per_page: 100 }).await?;
        let last = found.items.len() < 100 || (page as u64) * 100 >= found.total;
        items.extend(found.items);
        if items.len() > limit || (items.len() == limit && !last) {
            items.truncate(limit);
            return Ok((items, true));
        }
        if last {
            break;
        }
    }
    Ok((items, false))
}

struct ZoneRow {
    name: String,
    countries: String,
}

struct MethodRow {
    code: String,
    name: String,
    carrier: String,
    zone: String,
    price: String,
    free_above: String,
    delivery_days: String,
    active: bool,
}

impl MethodRow {
    fn new(method: &ShippingMethod, zones: &[Zone]) -> MethodRow {
        let price = match &method.rate {
            Rate::Flat { amount } => Money::new(*amount, method.currency).to_string(),
            Rate::WeightBased { brackets } => {
                let steps: Vec<String> = brackets
                    .iter()
                    .map(|b| format!("≤ {} g: {}", b.up_to_grams, Money::new(b.amount, method.currency)))
                    .collect();
                steps.join(", ")
            }
        };
        MethodRow {
            code: method.code.clone(),
            name: method.name.clone(),
            carrier: method.carrier.clone(),
            zone: zones
                .iter()
                .find(|z| z.id == method.zone_id)
                .map_or_else(|| method.zone_id.to_string(), |z| z.name.clone()),
            price,
            free_above: method.free_above.map(|a| Money::new(a, method.currency).to_string()).unwrap_or_default(),
            delivery_days: method.delivery_days.map(|d| d.to_string()).unwrap_or_default(),
            active: method.active,
        }
    }
}

#[derive(Default)]
struct ZoneForm {
    zone_name: String,
    countries: String,
}

#[derive(Default)]
struct MethodForm {
    code: String,
    name: String,
    carrier: String,
    zone: String,
    currency: String,
    amount: String,
    free_above: String,
    delivery_days: String,
}

#[derive(Template)]
#[template(path = "backoffice/shipping.html")]
struct ShippingPage {
    chrome: Chrome,
    zones: Vec<ZoneRow>,
    /// (id, name) for the method form's zone list.
    zone_choices: Vec<(String, String)>,
    methods: Vec<MethodRow>,
    /// More zones or methods than one page shows.
    truncated: bool,
    zone_form: ZoneForm,
    zone_errors: FormErrors,
    method_form: MethodForm,
    method_errors: FormErrors,
}

async fn shipping_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    zone_form: ZoneForm,
    zone_errors: FormErrors,
    mut method_form: MethodForm,
    method_errors: FormErrors,
) -> Result<ShippingPage, PageError> {
    let ctx = &session.ctx;
    let (zones, methods, shop) = tokio::join!(
        all_of(SHIPPING_LIST_LIMIT, |page| state.shipping.list_zones(ctx, page)),
        all_of(SHIPPING_LIST_LIMIT, |page| state.shipping.list_methods(ctx, page)),
        shop(state),
    );
    let ((zones, more_zones), (methods, more_methods)) = (zones?, methods?);
    if method_form.currency.is_empty() {
        method_form.currency = shop?.currency.code().to_string();
    }
    Ok(ShippingPage {
        chrome,
        zone_choices: zones.iter().map(|z| (z.id.to_string(), z.name.clone())).collect(),
        methods: methods.iter().map(|m| MethodRow::new(m, &zones)).collect(),
        zones: zones.iter().map(|z| ZoneRow { name: z.name.clone(), countries: z.countries.join(", ") }).collect(),
        truncated: more_zones || more_methods,
        zone_form,
        zone_errors,
        method_form,
        method_errors,
    })
}

async fn shipping(State(state): State<WebState>, session: Session) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ShippingManage), "/shipping").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let page = shipping_page(
        &state,
        &session,
        chrome,
        ZoneForm::default(),
        FormErrors::default(),
        MethodForm::default(),
        FormErrors::default(),
    )
    .await?;
    Ok(render(&page))
}

/// `fr, de ,BE` → `["FR", "DE", "BE"]`, naming the first entry that is not a country code.
fn parse_countries(value: &str, errors: &mut FormErrors) -> Vec<String> {
    let typed: Vec<&str> = value.split([',', ' ', ';']).map(str::trim).filter(|c| !c.is_empty()).collect();
    if typed.is_empty() {
        errors.add("countries", "Enter at least one country code, such as FR, BE.");
    } else if let Some(bad) = typed.iter().find(|c| !is_iso_alpha2(&c.to_ascii_uppercase())) {
        errors.add("countries", format!("“{bad}” is not a two-letter ISO country code (such as FR or DE)."));
    }
    typed.iter().map(|c| c.to_ascii_uppercase()).collect()
}

async fn create_zone(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ShippingManage), "/shipping").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let values = ZoneForm { zone_name: form.text("zone_name"), countries: form.text("countries") };
    let mut errors = FormErrors::default();
    if values.zone_name.is_empty() {
        errors.add("zone_name", "Enter the zone's name.");
    }
    let countries = parse_countries(&values.countries, &mut errors);
    if errors.is_empty() {
        let input = NewZone { name: values.zone_name.clone(), countries };
        match state.shipping.create_zone(&session.ctx, input).await {
            Ok(zone) => {
                let text = format!("Zone {} created.", zone.name);
                return Ok(redirect_with(&session, "/shipping", FlashKind::Success, &text));
            }
            Err(error) => errors.absorb(error, |field| match field {
                "name" => "zone_name".to_string(),
                f if f.starts_with("countries") => "countries".to_string(),
                f => f.to_string(),
            })?,
        }
    }
    let page =
        shipping_page(&state, &session, chrome, values, errors, MethodForm::default(), FormErrors::default()).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

async fn create_method(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ShippingManage), "/shipping").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let values = MethodForm {
        code: form.text("code"),
        name: form.text("name"),
        carrier: form.text("carrier"),
        zone: form.text("zone"),
        currency: form.text("currency").to_ascii_uppercase(),
        amount: form.text("amount"),
        free_above: form.text("free_above"),
        delivery_days: form.text("delivery_days"),
    };
    let mut errors = FormErrors::default();
    for (field, what) in [("code", "a code, such as standard"), ("name", "a name"), ("carrier", "the carrier")] {
        if form.text(field).is_empty() {
            errors.add(field, format!("Enter {what}."));
        }
    }
    let zone_id = Uuid::parse_str(&values.zone).ok();
    if zone_id.is_none() {
        errors.add("zone", "Choose the zone this method delivers to.");
    }
    let currency = match values.currency.parse::<Currency>() {
        Ok(currency) => Some(currency),
        Err(_) => {
            errors.add("currency", "Enter a currency code, such as EUR.");
            None
        }
    };
    let (mut amount, mut free_above) = (None, None);
    if let Some(currency) = currency {
        amount = form.amount("amount", "the price", currency, &mut errors);
        if !values.free_above.is_empty() {
            free_above = form.amount("free_above", "the free shipping threshold", currency, &mut errors);
        }
    }
    let delivery_days = if values.delivery_days.is_empty() {
        None
    } else {
        match form.integer("delivery_days", "the delivery days", &mut errors) {
            Some(days) if days < 0 => {
                errors.add("delivery_days", "The delivery days must be zero or more.");
                None
            }
            days => days,
        }
    };
    if let (true, Some(zone_id), Some(currency), Some(amount)) = (errors.is_empty(), zone_id, currency, amount) {
        let input = NewShippingMethod {
            code: values.code.clone(),
            name: values.name.clone(),
            carrier: values.carrier.clone(),
            zone_id,
            currency,
            rate: Rate::Flat { amount },
            free_above,
            delivery_days,
        };
        match state.shipping.create_method(&session.ctx, input).await {
            Ok(method) => {
                let text = format!("Shipping method {} created.", method.code);
                return Ok(redirect_with(&session, "/shipping", FlashKind::Success, &text));
            }
            Err(error) => errors.absorb(error, |field| match field {
                "zone_id" => "zone".to_string(),
                f if f.starts_with("rate") => "amount".to_string(),
                f => f.to_string(),
            })?,
        }
    }
    let page =
        shipping_page(&state, &session, chrome, ZoneForm::default(), FormErrors::default(), values, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

async fn set_method_active(
    State(state): State<WebState>,
    session: Session,
    Path(code): Path<String>,
    form: FormData,
) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::ShippingManage), "/shipping").await {
        return Ok(response);
    }
    let active = form.checked("active");
    match state.shipping.set_method_active(&session.ctx, &code, active).await {
        Ok(method) => {
            let text = if method.active {
                format!("{} is offered again.", method.name)
            } else {
                format!("{} is no longer offered.", method.name)
            };
            Ok(redirect_with(&session, "/shipping", FlashKind::Success, &text))
        }
        Err(error) if error.status() < 500 && !error.is_internal() => {
            Ok(redirect_with(&session, "/shipping", FlashKind::Error, &error.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_typed_as_percentages() {
        let mut errors = FormErrors::default();
        assert_eq!(parse_percent("20", &mut errors), Some(Decimal::new(2, 1)));
        assert_eq!(parse_percent("5.5", &mut errors), Some(Decimal::new(55, 3)));
        assert_eq!(parse_percent("5,5 %", &mut errors), Some(Decimal::new(55, 3)));
        assert_eq!(parse_percent("0", &mut errors), Some(Decimal::ZERO));
        assert!(errors.is_empty());
        assert_eq!(parse_percent("120", &mut errors), None);
        assert_eq!(errors.of("rate"), Some("The rate must be between 0 and 100 %."));
        let mut errors = FormErrors::default();
        assert_eq!(parse_percent("twenty", &mut errors), None);
        assert!(errors.of("rate").is_some());
        assert_eq!(percent(Decimal::new(55, 3)), "5.5 %");
        assert_eq!(percent(Decimal::new(20, 2)), "20 %");
    }

    #[test]
    fn countries_are_read_from_a_list() {
        let mut errors = FormErrors::default();
        assert_eq!(parse_countries("fr, de ,BE", &mut errors), ["FR", "DE", "BE"]);
        assert!(errors.is_empty());
        parse_countries("FR, France", &mut errors);
        assert_eq!(errors.of("countries"), Some("“France” is not a two-letter ISO country code (such as FR or DE)."));
        let mut errors = FormErrors::default();
        parse_countries(" , ", &mut errors);
        assert!(errors.of("countries").is_some());
    }
}
