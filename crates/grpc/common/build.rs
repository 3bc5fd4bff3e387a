//! Generates the shared messages and the Operations service from proto/comptoir/common/v1/common.proto with protox (no
//! system protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../proto");
    let files = protox::compile(["comptoir/common/v1/common.proto"], [root])?;
    tonic_prost_build::configure().compile_fds(files)?;
    println!("cargo:rerun-if-changed={root}/comptoir/common");
    Ok(())
}
