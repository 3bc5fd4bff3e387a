//! The `IdentityPort` and `SellerDirectory` of an identity service running elsewhere: callers
//! holding an `Arc<dyn IdentityPort>` (the API authenticating every request) or an
//! `Arc<dyn SellerDirectory>` (catalog) get the same answers and the same errors as from the
//! module in process.
//!
//! Reads are retried when the request never reached the service, and so are the writes that land
//! the same way twice: setting a tier it already has, logging out of a revoked session and
//! revoking a revoked key all change nothing and emit no second event. Everything else is sent
//! once: a second registration or account is a `duplicate-email` conflict, a second login opens a
//! second session, a second address, seller or API key is a duplicate, an address deleted twice
//! is not found, and above all a refresh token presented twice revokes the whole session.

use async_trait::async_trait;
use comptoir_contracts::identity::{
    Address, AddressInput, ApiKey, CreatedApiKey, Credentials, Customer, CustomerFilter, CustomerTier, IdentityPort,
    NewApiKey, NewSeller, NewStaff, Principal, RegisterCustomer, Seller, SellerDirectory, Staff, TokenPair,
};
use comptoir_grpc::convert::{all, page, to_page_request};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::identity_service_client::IdentityServiceClient;

#[derive(Clone)]
pub struct IdentityClient {
    remote: Remote,
}

impl IdentityClient {
    pub fn new(remote: Remote) -> Self {
        IdentityClient { remote }
    }
}

fn grpc(channel: Channel) -> IdentityServiceClient<Channel> {
    IdentityServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the identity service sent a malformed reply: {e}")))
}

#[async_trait]
impl IdentityPort for IdentityClient {
    async fn register_customer(&self, ctx: &RequestContext, input: RegisterCustomer) -> Result<Customer> {
        let message = convert::to_register_customer_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "RegisterCustomer", message, |channel, request| async move {
                grpc(channel).register_customer(request).await
            })
            .await?;
        decoded(convert::customer(reply))
    }

    async fn login_customer(&self, ctx: &RequestContext, credentials: Credentials) -> Result<(Customer, TokenPair)> {
        let message = convert::to_login_customer_request(credentials);
        let reply = self
            .remote
            .call(ctx, Call::Once, "LoginCustomer", message, |channel, request| async move {
                grpc(channel).login_customer(request).await
            })
            .await?;
        decoded(convert::login_customer_response(reply))
    }

    async fn login_staff(&self, ctx: &RequestContext, credentials: Credentials) -> Result<(Staff, TokenPair)> {
        let message = convert::to_login_staff_request(credentials);
        let reply = self
            .remote
            .call(ctx, Call::Once, "LoginStaff", message, |channel, request| async move {
                grpc(channel).login_staff(request).await
            })
            .await?;
        decoded(convert::login_staff_response(reply))
    }

    async fn refresh(&self, ctx: &RequestContext, refresh_token: &str) -> Result<TokenPair> {
        let message = pb::RefreshRequest { refresh_token: refresh_token.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Once, "Refresh", message, |channel, request| async move {
                grpc(channel).refresh(request).await
            })
            .await?;
        Ok(convert::token_pair(reply))
    }

    async fn logout(&self, ctx: &RequestContext, session_id: Uuid) -> Result<()> {
        let message = pb::LogoutRequest { session_id: session_id.to_string() };
        self.remote
            .call(ctx, Call::Idempotent, "Logout", message, |channel, request| async move {
                grpc(channel).logout(request).await
            })
            .await?;
        Ok(())
    }

    async fn authenticate_token(&self, token: &str) -> Result<Principal> {
        let message = pb::AuthenticateTokenRequest { token: token.to_string() };
        // The port takes no context here (authentication comes before there is a caller), so the
        // call travels as the system, under a correlation id of its own.
        let system = RequestContext::system();
        let reply = self
            .remote
            .call(&system, Call::Idempotent, "AuthenticateToken", message, |channel, request| async move {
                grpc(channel).authenticate_token(request).await
            })
            .await?;
        decoded(convert::principal(reply))
    }

    async fn authenticate_api_key(&self, key: &str) -> Result<Principal> {
        let message = pb::AuthenticateApiKeyRequest { key: key.to_string() };
        // No context here either: see `authenticate_token`.
        let system = RequestContext::system();
        let reply = self
            .remote
            .call(&system, Call::Idempotent, "AuthenticateApiKey", message, |channel, request| async move {
                grpc(channel).authenticate_api_key(request).await
            })
            .await?;
        decoded(convert::principal(reply))
    }

    async fn get_customer(&self, ctx: &RequestContext, id: Uuid) -> Result<Customer> {
        let message = pb::GetCustomerRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetCustomer", message, |channel, request| async move {
                grpc(channel).get_customer(request).await
            })
            .await?;
        decoded(convert::customer(reply))
    }

    async fn list_customers(
        &self,
        ctx: &RequestContext,
        filter: CustomerFilter,
        page_request: PageRequest,
    ) -> Result<Page<Customer>> {
        let message = pb::ListCustomersRequest {
            filter: Some(convert::to_customer_filter(filter)),
            page: Some(to_page_request(&page_request)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListCustomers", message, |channel, request| async move {
                grpc(channel).list_customers(request).await
            })
            .await?;
        decoded(all(reply.customers, convert::customer).and_then(|customers| page(customers, reply.page)))
    }

    async fn set_customer_tier(&self, ctx: &RequestContext, id: Uuid, tier: CustomerTier) -> Result<Customer> {
        let message = pb::SetCustomerTierRequest { id: id.to_string(), tier: convert::to_tier(tier).into() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SetCustomerTier", message, |channel, request| async move {
                grpc(channel).set_customer_tier(request).await
            })
            .await?;
        decoded(convert::customer(reply))
    }

    async fn list_addresses(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        page_request: PageRequest,
    ) -> Result<Page<Address>> {
        let message = pb::ListAddressesRequest {
            customer_id: customer_id.to_string(),
            page: Some(to_page_request(&page_request)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListAddresses", message, |channel, request| async move {
                grpc(channel).list_addresses(request).await
            })
            .await?;
        decoded(all(reply.addresses, convert::address).and_then(|addresses| page(addresses, reply.page)))
    }

    async fn add_address(&self, ctx: &RequestContext, customer_id: Uuid, input: AddressInput) -> Result<Address> {
        let message = pb::AddAddressRequest {
            customer_id: customer_id.to_string(),
            address: Some(convert::to_address_input(input)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Once, "AddAddress", message, |channel, request| async move {
                grpc(channel).add_address(request).await
            })
            .await?;
        decoded(convert::address(reply))
    }

    async fn update_address(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        address_id: Uuid,
        input: AddressInput,
    ) -> Result<Address> {
        let message = pb::UpdateAddressRequest {
            customer_id: customer_id.to_string(),
            address_id: address_id.to_string(),
            address: Some(convert::to_address_input(input)),
        };
        // Once: the module records every update as an `auth.address.changed` event.
        let reply = self
            .remote
            .call(ctx, Call::Once, "UpdateAddress", message, |channel, request| async move {
                grpc(channel).update_address(request).await
            })
            .await?;
        decoded(convert::address(reply))
    }

    async fn delete_address(&self, ctx: &RequestContext, customer_id: Uuid, address_id: Uuid) -> Result<()> {
        let message =
            pb::DeleteAddressRequest { customer_id: customer_id.to_string(), address_id: address_id.to_string() };
        self.remote
            .call(ctx, Call::Once, "DeleteAddress", message, |channel, request| async move {
                grpc(channel).delete_address(request).await
            })
            .await?;
        Ok(())
    }

    async fn create_staff(&self, ctx: &RequestContext, input: NewStaff) -> Result<Staff> {
        let message = convert::to_create_staff_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateStaff", message, |channel, request| async move {
                grpc(channel).create_staff(request).await
            })
            .await?;
        decoded(convert::staff(reply))
    }

    async fn list_staff(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Staff>> {
        let message = pb::ListStaffRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListStaff", message, |channel, request| async move {
                grpc(channel).list_staff(request).await
            })
            .await?;
        decoded(all(reply.staff, convert::staff).and_then(|staff| page(staff, reply.page)))
    }

    async fn create_seller(&self, ctx: &RequestContext, input: NewSeller) -> Result<Seller> {
        let message = convert::to_create_seller_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateSeller", message, |channel, request| async move {
                grpc(channel).create_seller(request).await
            })
            .await?;
        decoded(convert::seller(reply))
    }

    async fn get_seller(&self, ctx: &RequestContext, id: Uuid) -> Result<Seller> {
        let message = pb::GetSellerRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetSeller", message, |channel, request| async move {
                grpc(channel).get_seller(request).await
            })
            .await?;
        decoded(convert::seller(reply))
    }

    async fn list_sellers(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Seller>> {
        let message = pb::ListSellersRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListSellers", message, |channel, request| async move {
                grpc(channel).list_sellers(request).await
            })
            .await?;
        decoded(all(reply.sellers, convert::seller).and_then(|sellers| page(sellers, reply.page)))
    }

    async fn create_api_key(&self, ctx: &RequestContext, input: NewApiKey) -> Result<CreatedApiKey> {
        let message = convert::to_create_api_key_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateApiKey", message, |channel, request| async move {
                grpc(channel).create_api_key(request).await
            })
            .await?;
        decoded(convert::created_api_key(reply))
    }

    async fn list_api_keys(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<ApiKey>> {
        let message = pb::ListApiKeysRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListApiKeys", message, |channel, request| async move {
                grpc(channel).list_api_keys(request).await
            })
            .await?;
        decoded(all(reply.keys, convert::api_key).and_then(|keys| page(keys, reply.page)))
    }

    async fn revoke_api_key(&self, ctx: &RequestContext, id: Uuid) -> Result<ApiKey> {
        let message = pb::RevokeApiKeyRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "RevokeApiKey", message, |channel, request| async move {
                grpc(channel).revoke_api_key(request).await
            })
            .await?;
        decoded(convert::api_key(reply))
    }
}

#[async_trait]
impl SellerDirectory for IdentityClient {
    async fn seller_exists(&self, ctx: &RequestContext, id: Uuid) -> Result<bool> {
        let message = pb::SellerExistsRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SellerExists", message, |channel, request| async move {
                grpc(channel).seller_exists(request).await
            })
            .await?;
        Ok(reply.exists)
    }
}
