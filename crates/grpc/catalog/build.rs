//! Generates the catalog contract from proto/comptoir/catalog/v1/catalog.proto with protox (no system protoc);
//! the shared messages come from comptoir-grpc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../proto");
    let files = protox::compile(["comptoir/catalog/v1/catalog.proto"], [root])?;
    tonic_prost_build::configure()
        .extern_path(".comptoir.common.v1", "::comptoir_grpc::pb")
        // Option values and attributes are `BTreeMap`s in the contract: same type, same order.
        .btree_map(".comptoir.catalog.v1")
        .compile_fds(files)?;
    println!("cargo:rerun-if-changed={root}/comptoir/catalog");
    println!("cargo:rerun-if-changed={root}/comptoir/common");
    Ok(())
}
