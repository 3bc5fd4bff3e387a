//! The SQL of the notification module. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a reader's otherwise.

use comptoir_contracts::notification::{Delivery, Message, MessageFilter, MessageKind};
use comptoir_kernel::{Error, PageRequest, Result, time};
use comptoir_storage::listing::filtered_page;
use comptoir_storage::row::{flag, optional_id, text};
use comptoir_storage::{Row, db_error, query, query_scalar, uuid_from_db};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::domain::KnownOrder;

fn kind_to_db(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Transactional => "transactional",
        MessageKind::Marketing => "marketing",
        MessageKind::Merchant => "merchant",
    }
}

fn kind_from_db(value: &str) -> Result<MessageKind> {
    match value {
        "transactional" => Ok(MessageKind::Transactional),
        "marketing" => Ok(MessageKind::Marketing),
        "merchant" => Ok(MessageKind::Merchant),
        other => Err(Error::internal(format!("unknown message kind {other:?} in the database"))),
    }
}

fn delivery_to_db(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Mailbox => "mailbox",
        Delivery::Smtp => "smtp",
        Delivery::Failed => "failed",
        Delivery::Suppressed => "suppressed",
    }
}

fn delivery_from_db(value: &str) -> Result<Delivery> {
    match value {
        "mailbox" => Ok(Delivery::Mailbox),
        "smtp" => Ok(Delivery::Smtp),
        "failed" => Ok(Delivery::Failed),
        "suppressed" => Ok(Delivery::Suppressed),
        other => Err(Error::internal(format!("unknown delivery {other:?} in the database"))),
    }
}

// ---- Mailbox -------------------------------------------------------------------------------

pub async fn insert_message(c: &mut AnyConnection, m: &Message) -> Result<()> {
    query(
        "INSERT INTO messages (id, recipient, subject, body, template, kind, delivery, error, event_id, \
             customer_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(m.id.to_string())
    .bind(&m.to)
    .bind(&m.subject)
    .bind(&m.body)
    .bind(&m.template)
    .bind(kind_to_db(m.kind))
    .bind(delivery_to_db(m.delivery))
    .bind(m.error.as_deref())
    .bind(m.event_id.to_string())
    .bind(m.customer_id.map(|id| id.to_string()))
    .bind(time::to_db(&m.created_at))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Records how the SMTP delivery of a message ended.
pub async fn set_delivery(c: &mut AnyConnection, id: Uuid, delivery: Delivery, error: Option<&str>) -> Result<()> {
    query("UPDATE messages SET delivery = $1, error = $2 WHERE id = $3")
        .bind(delivery_to_db(delivery))
        .bind(error)
        .bind(id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A page of the mailbox, newest first, and the number of messages matching the filter.
pub async fn messages(c: &mut AnyConnection, filter: &MessageFilter, page: PageRequest) -> Result<(Vec<Message>, u64)> {
    let (rows, total) = filtered_page(
        c,
        "id, recipient, subject, body, template, kind, delivery, error, event_id, customer_id, created_at",
        "messages",
        &[("recipient", filter.to.as_deref()), ("template", filter.template.as_deref())],
        "created_at DESC, id DESC",
        page,
    )
    .await?;

    let items = rows
        .iter()
        .map(|row| {
            Ok(Message {
                id: uuid_from_db(&text(row, "id")?)?,
                to: text(row, "recipient")?,
                subject: text(row, "subject")?,
                body: text(row, "body")?,
                template: text(row, "template")?,
                kind: kind_from_db(&text(row, "kind")?)?,
                delivery: delivery_from_db(&text(row, "delivery")?)?,
                error: row.try_get("error").map_err(db_error)?,
                event_id: uuid_from_db(&text(row, "event_id")?)?,
                customer_id: optional_id(row, "customer_id")?,
                created_at: time::from_db(&text(row, "created_at")?)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((items, total))
}

// ---- Preferences ---------------------------------------------------------------------------

/// Whether the customer opted out of marketing; `None` when they never said.
pub async fn marketing_opt_out(c: &mut AnyConnection, customer_id: Uuid) -> Result<Option<bool>> {
    // The Any driver cannot decode a SQLite BOOLEAN: cast it, and let `flag` read either backend's.
    let row =
        query("SELECT CAST(marketing_opt_out AS INTEGER) AS marketing_opt_out FROM preferences WHERE customer_id = $1")
            .bind(customer_id.to_string())
            .fetch_optional(c)
            .await
            .map_err(db_error)?;
    row.map(|row| flag(&row, "marketing_opt_out")).transpose()
}

/// Sets the customer's choice; `true` when it changed (a customer without a row was opted in).
/// The row is made to exist first, then changed by a conditional UPDATE: that holds the row's lock
/// and sees the latest committed value, so concurrent requests for the same change report it once
/// on PostgreSQL too, where writers are not serialised as on SQLite.
pub async fn set_marketing_opt_out(c: &mut AnyConnection, customer_id: Uuid, opt_out: bool) -> Result<bool> {
    let now = time::to_db(&time::now());
    query(
        "INSERT INTO preferences (customer_id, marketing_opt_out, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer_id.to_string())
    .bind(false)
    .bind(&now)
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    let done = query(
        "UPDATE preferences SET marketing_opt_out = $2, updated_at = $3 \
         WHERE customer_id = $1 AND marketing_opt_out <> $2",
    )
    .bind(customer_id.to_string())
    .bind(opt_out)
    .bind(&now)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- Orders --------------------------------------------------------------------------------

/// Records an order's number and addressee; a later event about the same order overwrites them.
pub async fn upsert_order(c: &mut AnyConnection, order: &KnownOrder) -> Result<()> {
    query(
        "INSERT INTO orders (order_id, number, email, customer_id, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (order_id) DO UPDATE SET number = excluded.number, email = excluded.email, \
             customer_id = excluded.customer_id, updated_at = excluded.updated_at",
    )
    .bind(order.order_id.to_string())
    .bind(&order.number)
    .bind(&order.email)
    .bind(order.customer_id.map(|id| id.to_string()))
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn order(c: &mut AnyConnection, order_id: Uuid) -> Result<Option<KnownOrder>> {
    let row = query("SELECT order_id, number, email, customer_id FROM orders WHERE order_id = $1")
        .bind(order_id.to_string())
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    row.map(|row| {
        Ok(KnownOrder {
            order_id: uuid_from_db(&text(&row, "order_id")?)?,
            number: text(&row, "number")?,
            email: text(&row, "email")?,
            customer_id: optional_id(&row, "customer_id")?,
        })
    })
    .transpose()
}

// ---- The shop ------------------------------------------------------------------------------

pub async fn shop_name(c: &mut AnyConnection) -> Result<Option<String>> {
    query_scalar::<_, String>("SELECT name FROM shop WHERE id = 1").fetch_optional(c).await.map_err(db_error)
}

/// Records the name announced with settings `version`, unless a later version is already known
/// (events may arrive out of order).
pub async fn set_shop_name(c: &mut AnyConnection, name: &str, version: i64) -> Result<()> {
    query(
        "INSERT INTO shop (id, name, version, updated_at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, \
             updated_at = excluded.updated_at \
         WHERE shop.version < excluded.version",
    )
    .bind(name)
    .bind(version)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}
