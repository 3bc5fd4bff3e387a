//! Generates the billing contract from proto/comptoir/billing/v1/billing.proto with protox (no system protoc);
//! the shared messages come from comptoir-grpc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../proto");
    let files = protox::compile(["comptoir/billing/v1/billing.proto"], [root])?;
    tonic_prost_build::configure().extern_path(".comptoir.common.v1", "::comptoir_grpc::pb").compile_fds(files)?;
    println!("cargo:rerun-if-changed={root}/comptoir/billing");
    println!("cargo:rerun-if-changed={root}/comptoir/common");
    Ok(())
}
