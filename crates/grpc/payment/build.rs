//! Generates the payment contract from proto/comptoir/payment/v1/payment.proto with protox (no system protoc);
//! the shared messages come from comptoir-grpc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../proto");
    let files = protox::compile(["comptoir/payment/v1/payment.proto"], [root])?;
    tonic_prost_build::configure().extern_path(".comptoir.common.v1", "::comptoir_grpc::pb").compile_fds(files)?;
    println!("cargo:rerun-if-changed={root}/comptoir/payment");
    println!("cargo:rerun-if-changed={root}/comptoir/common");
    Ok(())
}
