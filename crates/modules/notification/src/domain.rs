//! Notification rules without I/O: a message before it is stored, how it leaves, and the mailbox
//! filter.

use comptoir_contracts::notification::{Delivery, MessageFilter, MessageKind};
use comptoir_kernel::{Error, Result};
use uuid::Uuid;

use crate::templates;

/// A message written from a template, not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub to: String,
    pub customer_id: Option<Uuid>,
    pub template: &'static str,
    pub kind: MessageKind,
    pub subject: String,
    pub body: String,
}

impl Draft {
    pub fn new(
        template: &'static str,
        kind: MessageKind,
        to: &str,
        customer_id: Option<Uuid>,
        subject: String,
        body: String,
    ) -> Draft {
        Draft { to: address(to), customer_id, template, kind, subject: one_line(&subject), body }
    }
}

/// What notification knows of an order, from ordering's events: enough to address a message.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownOrder {
    pub order_id: Uuid,
    pub number: String,
    pub email: String,
    pub customer_id: Option<Uuid>,
}

/// How a new message leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Recorded as suppressed, never sent.
    Suppress,
    /// Kept in the mailbox: there is no SMTP server to send it to.
    Mailbox,
    /// Stored as `mailbox`, then handed to the SMTP server once the unit of work has committed
    /// and recorded as `smtp` or `failed`.
    Smtp,
}

impl Route {
    /// The delivery recorded when the message is stored.
    pub fn stored_as(self) -> Delivery {
        match self {
            Route::Suppress => Delivery::Suppressed,
            Route::Mailbox | Route::Smtp => Delivery::Mailbox,
        }
    }
}

/// Only marketing messages honour the opt-out: a customer always hears about their own orders and
/// account, and the merchant about the shop.
pub fn route(kind: MessageKind, opted_out: bool, smtp_configured: bool) -> Route {
    if kind == MessageKind::Marketing && opted_out {
        Route::Suppress
    } else if smtp_configured {
        Route::Smtp
    } else {
        Route::Mailbox
    }
}

/// Recipient addresses are kept trimmed and lowercase, so that the mailbox filter finds them.
pub fn address(value: &str) -> String {
    value.trim().to_lowercase()
}

/// A header value on one line: a line break in a shop or product name must not start a new header.
pub fn one_line(value: &str) -> String {
    value.split(['\r', '\n']).map(str::trim).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Normalises the mailbox filter: the address is compared lowercase, the template must exist.
pub fn parse_filter(filter: MessageFilter) -> Result<MessageFilter> {
    let to = filter.to.as_deref().map(address).filter(|to| !to.is_empty());
    let template = match filter.template.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => match templates::ALL.iter().find(|known| **known == name) {
            Some(known) => Some(known.to_string()),
            None => {
                return Err(Error::validation("template", format!("must be one of {}", templates::ALL.join(", "))));
            }
        },
    };
    Ok(MessageFilter { to, template })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marketing_honours_the_opt_out() {
        assert_eq!(route(MessageKind::Marketing, true, true), Route::Suppress);
        assert_eq!(route(MessageKind::Marketing, false, true), Route::Smtp);
        assert_eq!(route(MessageKind::Transactional, true, true), Route::Smtp);
        assert_eq!(route(MessageKind::Merchant, true, false), Route::Mailbox);
        assert_eq!(route(MessageKind::Marketing, true, false).stored_as(), Delivery::Suppressed);
        assert_eq!(route(MessageKind::Transactional, false, true).stored_as(), Delivery::Mailbox);
    }

    #[test]
    fn subjects_stay_on_one_line_and_addresses_are_normalised() {
        let draft = Draft::new(
            templates::WELCOME,
            MessageKind::Marketing,
            " Ann@Example.COM ",
            None,
            "Welcome to\r\nBcc: evil@example.com".into(),
            "line 1\nline 2".into(),
        );
        assert_eq!(draft.to, "ann@example.com");
        assert_eq!(draft.subject, "Welcome to Bcc: evil@example.com");
        assert_eq!(draft.body, "line 1\nline 2", "bodies keep their lines");
    }

    #[test]
    fn filters_are_normalised_and_templates_checked() {
        let f = parse_filter(MessageFilter { to: Some(" Ann@Example.com".into()), template: Some("welcome".into()) })
            .unwrap();
        assert_eq!((f.to.as_deref(), f.template.as_deref()), (Some("ann@example.com"), Some("welcome")));
        let empty = parse_filter(MessageFilter { to: Some(" ".into()), template: Some("".into()) }).unwrap();
        assert_eq!((empty.to, empty.template), (None, None));
        let e = parse_filter(MessageFilter { to: None, template: Some("newsletter".into()) }).unwrap_err();
        assert_eq!(e.field_errors()[0].field, "template");
    }
}
