//! Generates the search contract from proto/comptoir/search/v1/search.proto with protox (no system protoc);
//! the shared messages come from comptoir-grpc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../proto");
    let files = protox::compile(["comptoir/search/v1/search.proto"], [root])?;
    tonic_prost_build::configure()
        .extern_path(".comptoir.common.v1", "::comptoir_grpc::pb")
        // Attribute filters and facets are `BTreeMap`s in the contract: same type, same order.
        .btree_map(".comptoir.search.v1")
        .compile_fds(files)?;
    println!("cargo:rerun-if-changed={root}/comptoir/search");
    println!("cargo:rerun-if-changed={root}/comptoir/common");
    Ok(())
}
