//! Compiles `proto/qrl.proto` (the part of qrl-node's public API EMS uses) with protox, a
//! protobuf compiler written in Rust, so building needs cargo alone and no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["qrl.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        // The server half is what the tests' in-process qrl-node stand-in implements.
        .build_server(true)
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
