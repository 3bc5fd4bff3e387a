//! The rules of identity, free of I/O: the kinds of account, the password policy, and the parsing
//! of every input into values known to be valid. A parse reports every bad field at once.

use chrono::TimeDelta;
use comptoir_contracts::identity::{
    AddressInput, AddressKind, NewApiKey, NewSeller, NewStaff, Permission, RegisterCustomer, Role,
};
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Error, FieldError, Result, validate};
use serde::{Deserialize, Serialize};

pub use comptoir_kernel::country::is_iso_alpha2;

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// More than this is not an address book any more but a data dump.
pub const MAX_ADDRESSES_PER_CUSTOMER: i64 = 20;

const PERSON_NAME_MAX: usize = 100;
const ORGANISATION_NAME_MAX: usize = 200;
const ADDRESS_LINE_MAX: usize = 200;
const CITY_MAX: usize = 100;
const POSTAL_CODE_MAX: usize = 20;
const REGION_MAX: usize = 100;
const PHONE_MAX: usize = 32;

/// Customers shop; staff run the back office. They log in separately and an email is unique per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    Customer,
    Staff,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Customer => "customer",
            UserKind::Staff => "staff",
        }
    }

    pub fn parse(value: &str) -> Option<UserKind> {
        match value {
            "customer" => Some(UserKind::Customer),
            "staff" => Some(UserKind::Staff),
            _ => None,
        }
    }
}

/// Length is what makes a password strong; composition rules only make it harder to remember.
pub fn check_password(field: &str, password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(Error::validation(field, format!("must be at least {PASSWORD_MIN_CHARS} characters")));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(Error::validation(field, format!("must be at most {PASSWORD_MAX_CHARS} characters")));
    }
    Ok(())
}

/// Trims an optional text; blank counts as absent.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::required_text(field, v, max).map(Some),
    }
}

/// Collects the field errors of several checks so that one answer names every bad field.
#[derive(Default)]
struct Checks(Vec<FieldError>);

impl Checks {
    fn check<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.extend(e.field_errors().iter().cloned());
                None
            }
        }
    }

    fn into_error(self) -> Error {
        Error::validation_many(self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

pub fn parse_registration(input: &RegisterCustomer) -> Result<Registration> {
    let mut c = Checks::default();
    let email = c.check(validate::email("email", &input.email));
    let password = c.check(check_password("password", &input.password));
    let first_name = c.check(optional_text("first_name", input.first_name.as_deref(), PERSON_NAME_MAX));
    let last_name = c.check(optional_text("last_name", input.last_name.as_deref(), PERSON_NAME_MAX));
    match (email, password, first_name, last_name) {
        (Some(email), Some(()), Some(first_name), Some(last_name)) => Ok(Registration { email, first_name, last_name }),
        _ => Err(c.into_error()),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaffAccount {
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
}

pub fn parse_new_staff(input: &NewStaff) -> Result<StaffAccount> {
    let mut c = Checks::default();
    let email = c.check(validate::email("email", &input.email));
    let password = c.check(check_password("password", &input.password));
    let name = c.check(validate::required_text("name", &input.name, PERSON_NAME_MAX));
    let roles = c.check(if input.roles.is_empty() {
        Err(Error::validation("roles", "must name at least one role"))
    } else {
        Ok(deduplicated(&input.roles))
    });
    match (email, password, name, roles) {
        (Some(email), Some(()), Some(name), Some(roles)) => Ok(StaffAccount { email, name, roles }),
        _ => Err(c.into_error()),
    }
}

/// An address as stored: trimmed, bounded, country in uppercase.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressFields {
    pub kind: AddressKind,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub region: Option<String>,
    pub country: String,
    pub phone: Option<String>,
    pub is_default: bool,
}

pub fn parse_address(input: &AddressInput) -> Result<AddressFields> {
    let mut c = Checks::default();
    let name = c.check(validate::required_text("name", &input.name, ORGANISATION_NAME_MAX));
    let line1 = c.check(validate::required_text("line1", &input.line1, ADDRESS_LINE_MAX));
    let line2 = c.check(optional_text("line2", input.line2.as_deref(), ADDRESS_LINE_MAX));
    let city = c.check(validate::required_text("city", &input.city, CITY_MAX));
    let postal_code = c.check(validate::required_text("postal_code", &input.postal_code, POSTAL_CODE_MAX));
    let region = c.check(optional_text("region", input.region.as_deref(), REGION_MAX));
    let country = c.check(country_code("country", &input.country));
    let phone = c.check(phone("phone", input.phone.as_deref()));
    match (name, line1, line2, city, postal_code, region, country, phone) {
        (
            Some(name),
            Some(line1),
            Some(line2),
            Some(city),
            Some(postal_code),
            Some(region),
            Some(country),
            Some(phone),
        ) => Ok(AddressFields {
            kind: input.kind,
            name,
            line1,
            line2,
            city,
            postal_code,
            region,
            country,
            phone,
            is_default: input.is_default,
        }),
        _ => Err(c.into_error()),
    }
}

/// Accepts `fr` for `FR`, but only codes that are actually assigned.
fn country_code(field: &str, value: &str) -> Result<String> {
    let code = value.trim().to_ascii_uppercase();
    if is_iso_alpha2(&code) {
        Ok(code)
    } else {
        Err(Error::validation(field, "must be an ISO 3166-1 alpha-2 country code such as FR or DE"))
    }
}

/// Digits with the usual separators; carriers print it on labels, so nothing else.
fn phone(field: &str, value: Option<&str>) -> Result<Option<String>> {
    let Some(phone) = optional_text(field, value, PHONE_MAX)? else {
        return Ok(None);
    };
    let readable = phone.chars().any(|c| c.is_ascii_digit())
        && phone.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.'));
    if readable { Ok(Some(phone)) } else { Err(Error::validation(field, "must be a phone number")) }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SellerFields {
    pub name: String,
    pub email: Option<String>,
}

pub fn parse_new_seller(input: &NewSeller) -> Result<SellerFields> {
    let mut c = Checks::default();
    let name = c.check(validate::required_text("name", &input.name, ORGANISATION_NAME_MAX));
    let email = c.check(match input.email.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(email) => validate::email("email", email).map(Some),
    });
    match (name, email) {
        (Some(name), Some(email)) => Ok(SellerFields { name, email }),
        _ => Err(c.into_error()),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyFields {
    pub name: String,
    pub scopes: Vec<Permission>,
}

pub fn parse_new_api_key(input: &NewApiKey) -> Result<ApiKeyFields> {
    let mut c = Checks::default();
    let name = c.check(validate::required_text("name", &input.name, PERSON_NAME_MAX));
    let scopes = c.check(if input.scopes.is_empty() {
        Err(Error::validation("scopes", "must name at least one permission"))
    } else {
        Ok(deduplicated(&input.scopes))
    });
    match (name, scopes) {
        (Some(name), Some(scopes)) => Ok(ApiKeyFields { name, scopes }),
        _ => Err(c.into_error()),
    }
}

/// Keeps the first occurrence of each value, in order.
fn deduplicated<T: PartialEq + Copy>(values: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(v) {
            out.push(*v);
        }
    }
    out
}

/// An API key's last use is recorded at most once a minute: a busy integration would otherwise
/// turn every read request into a write.
pub fn should_record_key_use(last_used_at: Option<Timestamp>, now: Timestamp) -> bool {
    last_used_at.is_none_or(|last| now - last >= TimeDelta::minutes(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: Error) -> Vec<String> {
        e.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    fn registration(email: &str, password: &str) -> RegisterCustomer {
        RegisterCustomer { email: email.into(), password: password.into(), first_name: None, last_name: None }
    }

    #[test]
    fn password_policy_counts_characters_not_bytes() {
        assert!(check_password("password", "123456789").is_err());
        assert!(check_password("password", "1234567890").is_ok());
        assert!(check_password("password", &"é".repeat(10)).is_ok(), "10 characters, 20 bytes");
        assert!(check_password("password", &"x".repeat(128)).is_ok());
        let too_long = check_password("password", &"x".repeat(129)).unwrap_err();
        assert_eq!(fields(too_long), ["password"]);
    }

    #[test]
    fn registration_normalises_and_reports_every_bad_field() {
        let mut input = registration(" Ann@Example.COM ", "correct horse battery");
        input.first_name = Some("  Ann ".into());
        input.last_name = Some("   ".into());
        let r = parse_registration(&input).unwrap();
        assert_eq!(
            r,
            Registration { email: "ann@example.com".into(), first_name: Some("Ann".into()), last_name: None }
        );

        let mut bad = registration("not-an-email", "short");
        bad.first_name = Some("x".repeat(101));
        let e = parse_registration(&bad).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(fields(e), ["email", "password", "first_name"]);
    }

    #[test]
    fn staff_need_a_name_and_a_role() {
        let input = NewStaff {
            email: "boss@shop.test".into(),
            password: "long enough password".into(),
            name: "Boss".into(),
            roles: vec![Role::Admin, Role::Support, Role::Admin],
        };
        assert_eq!(parse_new_staff(&input).unwrap().roles, [Role::Admin, Role::Support]);
        let e = parse_new_staff(&NewStaff { name: " ".into(), roles: vec![], ..input }).unwrap_err();
        assert_eq!(fields(e), ["name", "roles"]);
    }

    fn address() -> AddressInput {
        AddressInput {
            kind: AddressKind::Shipping,
            name: " Ann Smith ".into(),
            line1: "1 rue de la Paix".into(),
            line2: Some("".into()),
            city: "Paris".into(),
            postal_code: "75002".into(),
            region: None,
            country: "fr".into(),
            phone: Some("+33 1 23 45 67 89".into()),
            is_default: true,
        }
    }

    #[test]
    fn addresses_are_trimmed_and_the_country_uppercased() {
        let a = parse_address(&address()).unwrap();
        assert_eq!(a.name, "Ann Smith");
        assert_eq!(a.line2, None);
        assert_eq!(a.country, "FR");
        assert_eq!(a.phone.as_deref(), Some("+33 1 23 45 67 89"));
        assert!(a.is_default);
    }

    #[test]
    fn bad_addresses_name_each_field() {
        let input = AddressInput {
            name: "".into(),
            line1: "x".repeat(201),
            city: " ".into(),
            postal_code: "1".repeat(21),
            country: "UK".into(),
            phone: Some("call me".into()),
            ..address()
        };
        let e = parse_address(&input).unwrap_err();
        assert_eq!(fields(e), ["name", "line1", "city", "postal_code", "country", "phone"]);
        let long_phone = AddressInput { phone: Some("1".repeat(33)), ..address() };
        assert_eq!(fields(parse_address(&long_phone).unwrap_err()), ["phone"]);
    }

    #[test]
    fn sellers_have_a_name_and_maybe_an_email() {
        let s = parse_new_seller(&NewSeller { name: " Acme ".into(), email: Some(" ".into()) }).unwrap();
        assert_eq!(s, SellerFields { name: "Acme".into(), email: None });
        let e = parse_new_seller(&NewSeller { name: "".into(), email: Some("nope".into()) }).unwrap_err();
        assert_eq!(fields(e), ["name", "email"]);
    }

    #[test]
    fn api_keys_need_scopes() {
        let k = parse_new_api_key(&NewApiKey {
            name: "erp".into(),
            scopes: vec![Permission::CatalogRead, Permission::CatalogRead],
        })
        .unwrap();
        assert_eq!(k.scopes, [Permission::CatalogRead]);
        let e = parse_new_api_key(&NewApiKey { name: "erp".into(), scopes: vec![] }).unwrap_err();
        assert_eq!(fields(e), ["scopes"]);
    }

    #[test]
    fn key_use_is_recorded_at_most_once_a_minute() {
        let now = comptoir_kernel::time::now();
        assert!(should_record_key_use(None, now));
        assert!(!should_record_key_use(Some(now - TimeDelta::seconds(59)), now));
        assert!(should_record_key_use(Some(now - TimeDelta::seconds(60)), now));
    }

    #[test]
    fn user_kinds_round_trip() {
        for kind in [UserKind::Customer, UserKind::Staff] {
            assert_eq!(UserKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(UserKind::parse("admin"), None);
    }
}
