//! Serves an `IdentityPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message (a bad request if it is malformed), calls the port
//! and encodes its answer; the port's errors travel as statuses the client turns back into the
//! same errors.

use std::sync::Arc;

use comptoir_contracts::identity::IdentityPort;
use comptoir_grpc::convert::{page_request, to_page_info, uuid};
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, pb as common};
use comptoir_kernel::{Error, Page};
use tonic::Request;

use crate::convert;
use crate::pb;
use crate::pb::identity_service_server::{IdentityService, IdentityServiceServer};

pub struct IdentityServer {
    port: Arc<dyn IdentityPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn IdentityPort>) -> IdentityServiceServer<IdentityServer> {
    IdentityServiceServer::new(IdentityServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A page's items encoded, and its position.
fn encoded_page<T, M>(page: &Page<T>, encode: impl Fn(&T) -> M) -> (Vec<M>, Option<common::PageInfo>) {
    (page.items.iter().map(encode).collect(), Some(to_page_info(page)))
}

#[tonic::async_trait]
impl IdentityService for IdentityServer {
    async fn register_customer(&self, request: Request<pb::RegisterCustomerRequest>) -> RpcResult<pb::Customer> {
        let ctx = incoming_context(&request);
        let input = convert::register_customer(request.into_inner());
        reply(self.port.register_customer(&ctx, input).await.map(|customer| convert::to_customer(&customer)))
    }

    async fn login_customer(&self, request: Request<pb::LoginCustomerRequest>) -> RpcResult<pb::LoginCustomerResponse> {
        let ctx = incoming_context(&request);
        let credentials = convert::customer_credentials(request.into_inner());
        reply(self.port.login_customer(&ctx, credentials).await.map(convert::to_login_customer_response))
    }

    async fn login_staff(&self, request: Request<pb::LoginStaffRequest>) -> RpcResult<pb::LoginStaffResponse> {
        let ctx = incoming_context(&request);
        let credentials = convert::staff_credentials(request.into_inner());
        reply(self.port.login_staff(&ctx, credentials).await.map(convert::to_login_staff_response))
    }

    async fn refresh(&self, request: Request<pb::RefreshRequest>) -> RpcResult<pb::TokenPair> {
        let ctx = incoming_context(&request);
        let refresh_token = request.into_inner().refresh_token;
        reply(self.port.refresh(&ctx, &refresh_token).await.map(convert::to_token_pair))
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> RpcResult<pb::LogoutResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let session_id = uuid(&message.session_id, "session_id")?;
                self.port.logout(&ctx, session_id).await?;
                Ok(pb::LogoutResponse {})
            }
            .await,
        )
    }

    async fn authenticate_token(&self, request: Request<pb::AuthenticateTokenRequest>) -> RpcResult<pb::Principal> {
        let token = request.into_inner().token;
        reply(self.port.authenticate_token(&token).await.map(|principal| convert::to_principal(&principal)))
    }

    async fn authenticate_api_key(&self, request: Request<pb::AuthenticateApiKeyRequest>) -> RpcResult<pb::Principal> {
        let key = request.into_inner().key;
        reply(self.port.authenticate_api_key(&key).await.map(|principal| convert::to_principal(&principal)))
    }

    async fn get_customer(&self, request: Request<pb::GetCustomerRequest>) -> RpcResult<pb::Customer> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.id, "id")?;
                Ok(convert::to_customer(&self.port.get_customer(&ctx, id).await?))
            }
            .await,
        )
    }

    async fn list_customers(&self, request: Request<pb::ListCustomersRequest>) -> RpcResult<pb::ListCustomersResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let filter = convert::customer_filter(message.filter)?;
                let found = self.port.list_customers(&ctx, filter, page_request(message.page)).await?;
                let (customers, page) = encoded_page(&found, convert::to_customer);
                Ok(pb::ListCustomersResponse { customers, page })
            }
            .await,
        )
    }

    async fn set_customer_tier(&self, request: Request<pb::SetCustomerTierRequest>) -> RpcResult<pb::Customer> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.id, "id")?;
                let tier = convert::tier(message.tier, "tier")?;
                Ok(convert::to_customer(&self.port.set_customer_tier(&ctx, id, tier).await?))
            }
            .await,
        )
    }

    async fn list_addresses(&self, request: Request<pb::ListAddressesRequest>) -> RpcResult<pb::ListAddressesResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let customer_id = uuid(&message.customer_id, "customer_id")?;
                let found = self.port.list_addresses(&ctx, customer_id, page_request(message.page)).await?;
                let (addresses, page) = encoded_page(&found, convert::to_address);
                Ok(pb::ListAddressesResponse { addresses, page })
            }
            .await,
        )
    }

    async fn add_address(&self, request: Request<pb::AddAddressRequest>) -> RpcResult<pb::Address> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let customer_id = uuid(&message.customer_id, "customer_id")?;
                let input = convert::address_input(message.address)?;
                Ok(convert::to_address(&self.port.add_address(&ctx, customer_id, input).await?))
            }
            .await,
        )
    }

    async fn update_address(&self, request: Request<pb::UpdateAddressRequest>) -> RpcResult<pb::Address> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let customer_id = uuid(&message.customer_id, "customer_id")?;
                let address_id = uuid(&message.address_id, "address_id")?;
                let input = convert::address_input(message.address)?;
                Ok(convert::to_address(&self.port.update_address(&ctx, customer_id, address_id, input).await?))
            }
            .await,
        )
    }

    async fn delete_address(&self, request: Request<pb::DeleteAddressRequest>) -> RpcResult<pb::DeleteAddressResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let customer_id = uuid(&message.customer_id, "customer_id")?;
                let address_id = uuid(&message.address_id, "address_id")?;
                self.port.delete_address(&ctx, customer_id, address_id).await?;
                Ok(pb::DeleteAddressResponse {})
            }
            .await,
        )
    }

    async fn create_staff(&self, request: Request<pb::CreateStaffRequest>) -> RpcResult<pb::Staff> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let input = convert::new_staff(message)?;
                Ok(convert::to_staff(&self.port.create_staff(&ctx, input).await?))
            }
            .await,
        )
    }

    async fn list_staff(&self, request: Request<pb::ListStaffRequest>) -> RpcResult<pb::ListStaffResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_staff(&ctx, page).await.map(|found| {
            let (staff, page) = encoded_page(&found, convert::to_staff);
            pb::ListStaffResponse { staff, page }
        }))
    }

    async fn create_seller(&self, request: Request<pb::CreateSellerRequest>) -> RpcResult<pb::Seller> {
        let ctx = incoming_context(&request);
        let input = convert::new_seller(request.into_inner());
        reply(self.port.create_seller(&ctx, input).await.map(|seller| convert::to_seller(&seller)))
    }

    async fn get_seller(&self, request: Request<pb::GetSellerRequest>) -> RpcResult<pb::Seller> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.id, "id")?;
                Ok(convert::to_seller(&self.port.get_seller(&ctx, id).await?))
            }
            .await,
        )
    }

    async fn list_sellers(&self, request: Request<pb::ListSellersRequest>) -> RpcResult<pb::ListSellersResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_sellers(&ctx, page).await.map(|found| {
            let (sellers, page) = encoded_page(&found, convert::to_seller);
            pb::ListSellersResponse { sellers, page }
        }))
    }

    /// Answered from `get_seller`, so that hosting the `IdentityPort` alone serves the
    /// `SellerDirectory` too: the module's own `seller_exists` reads the same row.
    async fn seller_exists(&self, request: Request<pb::SellerExistsRequest>) -> RpcResult<pb::SellerExistsResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.id, "id")?;
                let exists = match self.port.get_seller(&ctx, id).await {
                    Ok(_) => true,
                    Err(Error::NotFound { resource: "seller", .. }) => false,
                    Err(e) => return Err(e),
                };
                Ok(pb::SellerExistsResponse { exists })
            }
            .await,
        )
    }

    async fn create_api_key(&self, request: Request<pb::CreateApiKeyRequest>) -> RpcResult<pb::CreatedApiKey> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let input = convert::new_api_key(message)?;
                Ok(convert::to_created_api_key(&self.port.create_api_key(&ctx, input).await?))
            }
            .await,
        )
    }

    async fn list_api_keys(&self, request: Request<pb::ListApiKeysRequest>) -> RpcResult<pb::ListApiKeysResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_api_keys(&ctx, page).await.map(|found| {
            let (keys, page) = encoded_page(&found, convert::to_api_key);
            pb::ListApiKeysResponse { keys, page }
        }))
    }

    async fn revoke_api_key(&self, request: Request<pb::RevokeApiKeyRequest>) -> RpcResult<pb::ApiKey> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.id, "id")?;
                Ok(convert::to_api_key(&self.port.revoke_api_key(&ctx, id).await?))
            }
            .await,
        )
    }
}
