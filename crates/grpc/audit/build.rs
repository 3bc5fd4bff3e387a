//! Generates the audit contract from proto/comptoir/audit/v1/audit.proto with protox (no system
//! protoc); the shared messages come from comptoir-grpc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../proto");
    let files = protox::compile(["comptoir/audit/v1/audit.proto"], [root])?;
    tonic_prost_build::configure().extern_path(".comptoir.common.v1", "::comptoir_grpc::pb").compile_fds(files)?;
    println!("cargo:rerun-if-changed={root}/comptoir/audit");
    println!("cargo:rerun-if-changed={root}/comptoir/common");
    Ok(())
}
