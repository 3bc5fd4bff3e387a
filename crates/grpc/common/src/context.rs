//! The request context travels in gRPC metadata: `x-correlation-id`, `x-shop-id`, `x-actor-id`,
//! `x-actor-type`. Services sit behind the gateway on a private network and trust these values.

use comptoir_kernel::context::{is_valid_correlation_id, new_correlation_id};
use comptoir_kernel::{Actor, ActorType, RequestContext};
use tonic::metadata::{MetadataMap, MetadataValue};

pub const CORRELATION_ID: &str = "x-correlation-id";
pub const SHOP_ID: &str = "x-shop-id";
pub const ACTOR_ID: &str = "x-actor-id";
pub const ACTOR_TYPE: &str = "x-actor-type";

/// A request carrying `message` and the caller's context.
pub fn outgoing_request<M>(ctx: &RequestContext, message: M) -> tonic::Request<M> {
    let mut request = tonic::Request::new(message);
    write_context(ctx, request.metadata_mut());
    request
}

pub fn write_context(ctx: &RequestContext, metadata: &mut MetadataMap) {
    let mut put = |key: &'static str, value: &str| {
        // A value that cannot travel as ASCII metadata is dropped rather than failing the call.
        if let Ok(value) = MetadataValue::try_from(value) {
            metadata.insert(key, value);
        }
    };
    put(CORRELATION_ID, &ctx.correlation_id);
    put(SHOP_ID, &ctx.shop_id);
    put(ACTOR_TYPE, ctx.actor.kind.as_str());
    if let Some(id) = &ctx.actor.id {
        put(ACTOR_ID, id);
    }
}

/// The caller's context; a missing or malformed correlation id gets a fresh one, a missing actor
/// is the system.
pub fn incoming_context<M>(request: &tonic::Request<M>) -> RequestContext {
    read_context(request.metadata())
}

pub fn read_context(metadata: &MetadataMap) -> RequestContext {
    let get = |key: &str| metadata.get(key).and_then(|v| v.to_str().ok()).map(str::to_string);
    let correlation_id =
        get(CORRELATION_ID).filter(|id| is_valid_correlation_id(id)).unwrap_or_else(new_correlation_id);
    let kind = match get(ACTOR_TYPE).as_deref() {
        Some("user") => ActorType::User,
        Some("app") => ActorType::App,
        _ => ActorType::System,
    };
    let actor = Actor { id: get(ACTOR_ID).filter(|_| kind != ActorType::System), kind };
    let mut ctx = RequestContext::new(correlation_id, actor);
    if let Some(shop) = get(SHOP_ID).filter(|s| !s.is_empty()) {
        ctx.shop_id = shop;
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_survives_the_trip() {
        let ctx = RequestContext::new("corr-1", Actor::user("u-42"));
        let request = outgoing_request(&ctx, ());
        let back = incoming_context(&request);
        assert_eq!(back.correlation_id, "corr-1");
        assert_eq!(back.actor, Actor::user("u-42"));
        assert_eq!(back.shop_id, ctx.shop_id);
    }

    #[test]
    fn a_bare_request_is_the_system_with_a_fresh_correlation_id() {
        let ctx = incoming_context(&tonic::Request::new(()));
        assert_eq!(ctx.actor, Actor::system());
        assert!(is_valid_correlation_id(&ctx.correlation_id));
    }
}
