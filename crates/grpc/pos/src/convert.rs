//! The point of sale's contract types ↔ their wire messages, both ways: `to_*` encodes, the
//! function named after the type decodes. Inputs cross unchanged (codes, SKUs, quantities,
//! amounts, keys, `None` kept apart from `Some("")`) so that the module validates them as it does
//! in process; decoding what a peer sent fails as a bad request naming the field (a malformed id,
//! a missing message, an unknown enum number), never a panic.

use comptoir_contracts::pos::{
    Cashier, NewSale, NewStoreReturn, ReturnedLine, Sale, SaleFilter, SaleLine, SaleLineInput, SaleStatus, SaleTotals,
    ScannedItem, Sell, Store, StoreInput, StoreReturn, TakeReturn, Tender, TenderInput, TenderMethod,
};
use comptoir_grpc::convert::{
    currency, decimal, money, optional_money, optional_timestamp, optional_uuid, page_request, required,
    required_address, timestamp, to_address, to_decimal, to_money, to_page_request, to_timestamp, uuid,
};
use comptoir_kernel::{Error, PageRequest, Result};

use crate::pb;

/// The error for an enum number that is unspecified or that this side does not know.
fn unknown_enum(field: &str, value: i32) -> Error {
    Error::bad_request(format!("{field}: {value} is not a known value"))
}

// ---- Enums -------------------------------------------------------------------------------------

pub fn to_sale_status(status: SaleStatus) -> pb::SaleStatus {
    match status {
        SaleStatus::Completed => pb::SaleStatus::Completed,
        SaleStatus::PartlyReturned => pb::SaleStatus::PartlyReturned,
        SaleStatus::Returned => pb::SaleStatus::Returned,
    }
}

pub fn sale_status(value: i32, field: &str) -> Result<SaleStatus> {
    match pb::SaleStatus::try_from(value) {
        Ok(pb::SaleStatus::Completed) => Ok(SaleStatus::Completed),
        Ok(pb::SaleStatus::PartlyReturned) => Ok(SaleStatus::PartlyReturned),
        Ok(pb::SaleStatus::Returned) => Ok(SaleStatus::Returned),
        Ok(pb::SaleStatus::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn to_tender_method(method: TenderMethod) -> pb::TenderMethod {
    match method {
        TenderMethod::Cash => pb::TenderMethod::Cash,
        TenderMethod::Card => pb::TenderMethod::Card,
    }
}

pub fn tender_method(value: i32, field: &str) -> Result<TenderMethod> {
    match pb::TenderMethod::try_from(value) {
        Ok(pb::TenderMethod::Cash) => Ok(TenderMethod::Cash),
        Ok(pb::TenderMethod::Card) => Ok(TenderMethod::Card),
        Ok(pb::TenderMethod::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

// ---- Stores ------------------------------------------------------------------------------------

pub fn to_store(store: &Store) -> pb::Store {
    pb::Store {
        location: store.location.clone(),
        name: store.name.clone(),
        address: Some(to_address(&store.address)),
        channel: store.channel.clone(),
        currency: store.currency.code().to_string(),
        created_at: Some(to_timestamp(&store.created_at)),
        updated_at: Some(to_timestamp(&store.updated_at)),
    }
}

pub fn store(value: pb::Store) -> Result<Store> {
    Ok(Store {
        address: required_address(value.address, "address")?,
        currency: currency(&value.currency, "currency")?,
        created_at: timestamp(value.created_at, "created_at")?,
        updated_at: timestamp(value.updated_at, "updated_at")?,
        location: value.location,
        name: value.name,
        channel: value.channel,
    })
}

pub fn to_store_input(input: StoreInput) -> pb::StoreInput {
    pb::StoreInput {
        location: input.location,
        name: input.name,
        address: Some(to_address(&input.address)),
        channel: input.channel,
        currency: input.currency.map(|c| c.code().to_string()),
    }
}

pub fn store_input(value: pb::StoreInput) -> Result<StoreInput> {
    Ok(StoreInput {
        address: required_address(value.address, "address")?,
        currency: value.currency.as_deref().map(|c| currency(c, "currency")).transpose()?,
        location: value.location,
        name: value.name,
        channel: value.channel,
    })
}

pub fn to_scanned_item(item: &ScannedItem) -> pb::ScannedItem {
    pb::ScannedItem {
        sku: item.sku.clone(),
        product_id: item.product_id.to_string(),
        product_name: item.product_name.clone(),
        options: item.options.clone().into_iter().collect(),
        price: Some(to_money(&item.price)),
        available_here: item.available_here,
    }
}

pub fn scanned_item(value: pb::ScannedItem) -> Result<ScannedItem> {
    Ok(ScannedItem {
        product_id: uuid(&value.product_id, "product_id")?,
        price: money(value.price, "price")?,
        sku: value.sku,
        product_name: value.product_name,
        options: value.options.into_iter().collect(),
        available_here: value.available_here,
    })
}

// ---- Selling -----------------------------------------------------------------------------------

pub fn to_cashier(cashier: &Cashier) -> pb::Cashier {
    pb::Cashier { id: cashier.id.to_string(), name: cashier.name.clone() }
}

pub fn cashier(value: Option<pb::Cashier>, field: &str) -> Result<Cashier> {
    let value = required(value, field)?;
    Ok(Cashier { id: uuid(&value.id, &format!("{field}.id"))?, name: value.name })
}

fn to_line_input(line: &SaleLineInput) -> pb::SaleLineInput {
    pb::SaleLineInput { sku: line.sku.clone(), quantity: line.quantity }
}

fn line_input(value: pb::SaleLineInput) -> SaleLineInput {
    SaleLineInput { sku: value.sku, quantity: value.quantity }
}

pub fn to_tender_input(tender: &TenderInput) -> pb::TenderInput {
    let method = match tender {
        TenderInput::Cash { tendered } => pb::tender_input::Method::Cash(pb::CashTender { tendered: *tendered }),
        TenderInput::Card { token } => pb::tender_input::Method::Card(pb::CardTender { token: token.clone() }),
    };
    pb::TenderInput { method: Some(method) }
}

pub fn tender_input(value: Option<pb::TenderInput>, field: &str) -> Result<TenderInput> {
    match required(value, field)?.method {
        Some(pb::tender_input::Method::Cash(cash)) => Ok(TenderInput::Cash { tendered: cash.tendered }),
        Some(pb::tender_input::Method::Card(card)) => Ok(TenderInput::Card { token: card.token }),
        None => Err(Error::bad_request(format!("{field}: neither cash nor card"))),
    }
}

pub fn to_sell_request(sell: &Sell) -> pb::SellRequest {
    pb::SellRequest {
        idempotency_key: sell.idempotency_key.clone(),
        cashier: Some(to_cashier(&sell.cashier)),
        location: sell.sale.location.clone(),
        lines: sell.sale.lines.iter().map(to_line_input).collect(),
        payment: Some(to_tender_input(&sell.sale.payment)),
    }
}

pub fn sell(value: pb::SellRequest) -> Result<Sell> {
    Ok(Sell {
        cashier: cashier(value.cashier, "cashier")?,
        sale: NewSale {
            payment: tender_input(value.payment, "payment")?,
            location: value.location,
            lines: value.lines.into_iter().map(line_input).collect(),
        },
        idempotency_key: value.idempotency_key,
    })
}

fn to_sale_line(line: &SaleLine) -> pb::SaleLine {
    pb::SaleLine {
        sku: line.sku.clone(),
        product_id: line.product_id.to_string(),
        product_name: line.product_name.clone(),
        quantity: line.quantity,
        unit_price: Some(to_money(&line.unit_price)),
        tax_rate: to_decimal(&line.tax_rate),
        net: Some(to_money(&line.net)),
        tax: Some(to_money(&line.tax)),
        gross: Some(to_money(&line.gross)),
        returned: line.returned,
    }
}

fn sale_line(value: pb::SaleLine, path: &str) -> Result<SaleLine> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(SaleLine {
        product_id: uuid(&value.product_id, &field("product_id"))?,
        unit_price: money(value.unit_price, &field("unit_price"))?,
        tax_rate: decimal(&value.tax_rate, &field("tax_rate"))?,
        net: money(value.net, &field("net"))?,
        tax: money(value.tax, &field("tax"))?,
        gross: money(value.gross, &field("gross"))?,
        sku: value.sku,
        product_name: value.product_name,
        quantity: value.quantity,
        returned: value.returned,
    })
}

fn to_totals(totals: &SaleTotals) -> pb::SaleTotals {
    pb::SaleTotals {
        net: Some(to_money(&totals.net)),
        tax: Some(to_money(&totals.tax)),
        gross: Some(to_money(&totals.gross)),
    }
}

fn totals(value: Option<pb::SaleTotals>, field: &str) -> Result<SaleTotals> {
    let value = required(value, field)?;
    Ok(SaleTotals {
        net: money(value.net, &format!("{field}.net"))?,
        tax: money(value.tax, &format!("{field}.tax"))?,
        gross: money(value.gross, &format!("{field}.gross"))?,
    })
}

fn to_tender(tender: &Tender) -> pb::Tender {
    pb::Tender {
        method: to_tender_method(tender.method).into(),
        amount: Some(to_money(&tender.amount)),
        tendered: tender.tendered.as_ref().map(to_money),
        change: tender.change.as_ref().map(to_money),
        payment_id: tender.payment_id.to_string(),
    }
}

fn tender(value: Option<pb::Tender>, field: &str) -> Result<Tender> {
    let value = required(value, field)?;
    Ok(Tender {
        method: tender_method(value.method, &format!("{field}.method"))?,
        amount: money(value.amount, &format!("{field}.amount"))?,
        tendered: optional_money(value.tendered, &format!("{field}.tendered"))?,
        change: optional_money(value.change, &format!("{field}.change"))?,
        payment_id: uuid(&value.payment_id, &format!("{field}.payment_id"))?,
    })
}

pub fn to_sale(sale: &Sale) -> pb::Sale {
    pb::Sale {
        id: sale.id.to_string(),
        number: sale.number.clone(),
        location: sale.location.clone(),
        channel: sale.channel.clone(),
        cashier: Some(to_cashier(&sale.cashier)),
        status: to_sale_status(sale.status).into(),
        lines: sale.lines.iter().map(to_sale_line).collect(),
        totals: Some(to_totals(&sale.totals)),
        tender: Some(to_tender(&sale.tender)),
        refunded: Some(to_money(&sale.refunded)),
        created_at: Some(to_timestamp(&sale.created_at)),
    }
}

pub fn sale(value: pb::Sale) -> Result<Sale> {
    Ok(Sale {
        id: uuid(&value.id, "id")?,
        cashier: cashier(value.cashier, "cashier")?,
        status: sale_status(value.status, "status")?,
        lines: value
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| sale_line(line, &format!("lines[{i}]")))
            .collect::<Result<_>>()?,
        totals: totals(value.totals, "totals")?,
        tender: tender(value.tender, "tender")?,
        refunded: money(value.refunded, "refunded")?,
        created_at: timestamp(value.created_at, "created_at")?,
        number: value.number,
        location: value.location,
        channel: value.channel,
    })
}

pub fn to_list_sales_request(filter: &SaleFilter, page: &PageRequest) -> pb::ListSalesRequest {
    pb::ListSalesRequest {
        location: filter.location.clone(),
        cashier_id: filter.cashier_id.map(|id| id.to_string()),
        from: filter.from.as_ref().map(to_timestamp),
        to: filter.to.as_ref().map(to_timestamp),
        page: Some(to_page_request(page)),
    }
}

/// The filter and the page asked for; the page is kept as sent for the module to check.
pub fn list_sales_query(value: pb::ListSalesRequest) -> Result<(SaleFilter, PageRequest)> {
    let filter = SaleFilter {
        cashier_id: optional_uuid(value.cashier_id.as_deref(), "cashier_id")?,
        from: optional_timestamp(value.from, "from")?,
        to: optional_timestamp(value.to, "to")?,
        location: value.location,
    };
    Ok((filter, page_request(value.page)))
}

// ---- Returns -----------------------------------------------------------------------------------

pub fn to_take_return_request(take: &TakeReturn) -> pb::TakeReturnRequest {
    pb::TakeReturnRequest {
        idempotency_key: take.idempotency_key.clone(),
        cashier: Some(to_cashier(&take.cashier)),
        sale_id: take.sale_id.to_string(),
        lines: take.input.lines.iter().map(to_line_input).collect(),
        reason: take.input.reason.clone(),
        restock: take.input.restock,
    }
}

pub fn take_return(value: pb::TakeReturnRequest) -> Result<TakeReturn> {
    Ok(TakeReturn {
        cashier: cashier(value.cashier, "cashier")?,
        sale_id: uuid(&value.sale_id, "sale_id")?,
        input: NewStoreReturn {
            lines: value.lines.into_iter().map(line_input).collect(),
            reason: value.reason,
            restock: value.restock,
        },
        idempotency_key: value.idempotency_key,
    })
}

fn to_returned_line(line: &ReturnedLine) -> pb::ReturnedLine {
    pb::ReturnedLine {
        sku: line.sku.clone(),
        product_id: line.product_id.to_string(),
        quantity: line.quantity,
        amount: Some(to_money(&line.amount)),
    }
}

fn returned_line(value: pb::ReturnedLine, path: &str) -> Result<ReturnedLine> {
    Ok(ReturnedLine {
        product_id: uuid(&value.product_id, &format!("{path}.product_id"))?,
        amount: money(value.amount, &format!("{path}.amount"))?,
        sku: value.sku,
        quantity: value.quantity,
    })
}

pub fn to_store_return(r: &StoreReturn) -> pb::StoreReturn {
    pb::StoreReturn {
        id: r.id.to_string(),
        sale_id: r.sale_id.to_string(),
        sale_number: r.sale_number.clone(),
        location: r.location.clone(),
        channel: r.channel.clone(),
        cashier: Some(to_cashier(&r.cashier)),
        lines: r.lines.iter().map(to_returned_line).collect(),
        amount: Some(to_money(&r.amount)),
        reason: r.reason.clone(),
        restocked: r.restocked,
        created_at: Some(to_timestamp(&r.created_at)),
    }
}

pub fn store_return(value: pb::StoreReturn) -> Result<StoreReturn> {
    Ok(StoreReturn {
        id: uuid(&value.id, "id")?,
        sale_id: uuid(&value.sale_id, "sale_id")?,
        cashier: cashier(value.cashier, "cashier")?,
        lines: value
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| returned_line(line, &format!("lines[{i}]")))
            .collect::<Result<_>>()?,
        amount: money(value.amount, "amount")?,
        created_at: timestamp(value.created_at, "created_at")?,
        sale_number: value.sale_number,
        location: value.location,
        channel: value.channel,
        reason: value.reason,
        restocked: value.restocked,
    })
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::address::PostalAddress;
    use comptoir_kernel::{Currency, Money};
    use uuid::Uuid;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-03-01T09:30:12.123456Z").unwrap().into()
    }

    fn a_sale(method: TenderMethod) -> Sale {
        Sale {
            id: Uuid::now_v7(),
            number: "PARIS-STORE-000001".into(),
            location: "paris-store".into(),
            channel: "store".into(),
            cashier: Cashier { id: Uuid::now_v7(), name: "Ann".into() },
            status: SaleStatus::PartlyReturned,
            lines: vec![SaleLine {
                sku: "TEE".into(),
                product_id: Uuid::now_v7(),
                product_name: "Tee shirt".into(),
                quantity: 2,
                unit_price: eur(2400),
                tax_rate: "0.20".parse().unwrap(),
                net: eur(4000),
                tax: eur(800),
                gross: eur(4800),
                returned: 1,
            }],
            totals: SaleTotals { net: eur(4000), tax: eur(800), gross: eur(4800) },
            tender: Tender {
                method,
                amount: eur(4800),
                tendered: (method == TenderMethod::Cash).then(|| eur(5000)),
                change: (method == TenderMethod::Cash).then(|| eur(200)),
                payment_id: Uuid::now_v7(),
            },
            refunded: eur(2400),
            created_at: at(),
        }
    }

    #[test]
    fn every_value_survives_the_round_trip() {
        for method in [TenderMethod::Cash, TenderMethod::Card] {
            let s = a_sale(method);
            assert_eq!(sale(to_sale(&s)).unwrap(), s);
        }
        for status in [SaleStatus::Completed, SaleStatus::PartlyReturned, SaleStatus::Returned] {
            assert_eq!(sale_status(to_sale_status(status).into(), "status").unwrap(), status);
        }
        let store_value = Store {
            location: "paris-store".into(),
            name: "Paris".into(),
            address: PostalAddress {
                name: "Comptoir".into(),
                line1: "1 rue".into(),
                line2: Some("".into()),
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
        };
        assert_eq!(store(to_store(&store_value)).unwrap(), store_value);
        let r = StoreReturn {
            id: Uuid::now_v7(),
            sale_id: Uuid::now_v7(),
            sale_number: "PARIS-STORE-000001".into(),
            location: "paris-store".into(),
            channel: "store".into(),
            cashier: Cashier { id: Uuid::now_v7(), name: "Ann".into() },
            lines: vec![ReturnedLine { sku: "TEE".into(), product_id: Uuid::now_v7(), quantity: 1, amount: eur(2400) }],
            amount: eur(2400),
            reason: "too small".into(),
            restocked: false,
            created_at: at(),
        };
        assert_eq!(store_return(to_store_return(&r)).unwrap(), r);
    }

    #[test]
    fn inputs_cross_as_they_were_built() {
        let take = TakeReturn {
            idempotency_key: " ".into(),
            cashier: Cashier { id: Uuid::nil(), name: "".into() },
            sale_id: Uuid::nil(),
            input: NewStoreReturn {
                lines: vec![SaleLineInput { sku: "".into(), quantity: -1 }],
                reason: "".into(),
                restock: false,
            },
        };
        let back = take_return(to_take_return_request(&take)).unwrap();
        assert_eq!((back.idempotency_key.as_str(), back.input.lines[0].quantity, back.input.restock), (" ", -1, false));
        let sell_value = Sell {
            idempotency_key: "k".into(),
            cashier: Cashier { id: Uuid::nil(), name: "Ann".into() },
            sale: NewSale { location: "".into(), lines: vec![], payment: TenderInput::Cash { tendered: -3 } },
        };
        let back = sell(to_sell_request(&sell_value)).unwrap();
        assert!(matches!(back.sale.payment, TenderInput::Cash { tendered: -3 }));
        let input = StoreInput {
            location: "x".into(),
            name: "".into(),
            address: store_input(pb::StoreInput { address: Some(Default::default()), ..Default::default() })
                .unwrap()
                .address,
            channel: Some("".into()),
            currency: None,
        };
        let back = store_input(to_store_input(input)).unwrap();
        assert_eq!((back.channel.as_deref(), back.currency), (Some(""), None));
    }

    #[test]
    fn malformed_messages_name_their_field() {
        let e = sell(pb::SellRequest { cashier: Some(pb::Cashier::default()), ..Default::default() }).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("cashier.id"), "{e}");
        let valid_cashier = Some(pb::Cashier { id: Uuid::nil().to_string(), name: "Ann".into() });
        let e = sell(pb::SellRequest { cashier: valid_cashier.clone(), ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("payment"), "{e}");
        let no_method = Some(pb::TenderInput { method: None });
        let e = sell(pb::SellRequest { cashier: valid_cashier, payment: no_method, ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("neither cash nor card"), "{e}");
        let e = store_input(pb::StoreInput {
            address: Some(Default::default()),
            currency: Some("EURO".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("currency"), "{e}");
        let mut wire = to_sale(&a_sale(TenderMethod::Card));
        wire.lines[0].tax_rate = "twenty".into();
        assert!(sale(wire).unwrap_err().to_string().contains("lines[0].tax_rate"));
        for value in [0, 42] {
            assert!(sale_status(value, "status").unwrap_err().to_string().contains("status"));
            assert_eq!(tender_method(value, "tender.method").unwrap_err().status(), 400);
        }
        let e = list_sales_query(pb::ListSalesRequest { cashier_id: Some("bob".into()), ..Default::default() })
            .unwrap_err();
        assert!(e.to_string().contains("cashier_id"), "{e}");
    }
}
