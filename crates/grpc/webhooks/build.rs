//! Generates the webhooks contract from proto/comptoir/webhooks/v1/webhooks.proto with protox (no system protoc);
//! the shared messages come from comptoir-grpc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../proto");
    let files = protox::compile(["comptoir/webhooks/v1/webhooks.proto"], [root])?;
    tonic_prost_build::configure().extern_path(".comptoir.common.v1", "::comptoir_grpc::pb").compile_fds(files)?;
    println!("cargo:rerun-if-changed={root}/comptoir/webhooks");
    println!("cargo:rerun-if-changed={root}/comptoir/common");
    Ok(())
}
