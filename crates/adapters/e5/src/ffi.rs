//! The boundary with the C engine (`e5.h`): the only unsafe code in atiende.
//!
//! The engine memory-maps the weights read-only and allocates its working memory per call, so one
//! loaded model is safe to call from several threads at once (this was checked in `e5.c`: no
//! call writes to the model after `e5_load`).

#![allow(unsafe_code)]

use std::path::Path;

#[cfg(e5_engine)]
mod sys {
    use std::os::raw::{c_char, c_int};

    #[repr(C)]
    pub(super) struct E5Model {
        _opaque: [u8; 0],
    }

    unsafe extern "C" {
        pub(super) fn e5_load(path: *const c_char) -> *mut E5Model;
        pub(super) fn e5_free(model: *mut E5Model);
        pub(super) fn e5_dim(model: *const E5Model) -> c_int;
        pub(super) fn e5_embed_batch(
            model: *mut E5Model,
            texts: *const *const c_char,
            n: c_int,
            is_query: c_int,
            out: *mut f32,
        ) -> c_int;
    }
}

/// A loaded model.
pub(crate) struct Model {
    #[cfg(e5_engine)]
    ptr: std::ptr::NonNull<sys::E5Model>,
    dimensions: usize,
}

// SAFETY: the engine never mutates a model after loading it (see the module docs), and the
// pointer is freed only in `Drop`, when no call can be running.
unsafe impl Send for Model {}
// SAFETY: as above: concurrent calls only read the model.
unsafe impl Sync for Model {}

impl Model {
    /// Loads the weights at `path`.
    #[cfg(e5_engine)]
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        #[cfg(e5_avx2)]
        if !std::arch::is_x86_feature_detected!("avx2")
            || !std::arch::is_x86_feature_detected!("fma")
        {
            return Err(
                "the e5 engine was built for AVX2 and this CPU lacks it: rebuild with \
                        ATIENDE_E5_PORTABLE=1"
                    .to_owned(),
            );
        }
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| "the model path contains a NUL byte".to_owned())?;
        // SAFETY: `c_path` is a valid NUL-terminated string for the duration of the call.
        let raw = unsafe { sys::e5_load(c_path.as_ptr()) };
        let ptr = std::ptr::NonNull::new(raw)
            .ok_or_else(|| format!("{} is not an e5 model file", path.display()))?;
        // SAFETY: `ptr` is a model `e5_load` just returned.
        let dimensions = unsafe { sys::e5_dim(ptr.as_ptr()) };
        let dimensions = usize::try_from(dimensions)
            .ok()
            .filter(|d| *d > 0)
            .ok_or_else(|| format!("the model reports {dimensions} dimensions"))?;
        Ok(Self { ptr, dimensions })
    }

    /// Without the engine nothing loads (the caller checked [`crate::engine_built`] first).
    #[cfg(not(e5_engine))]
    pub(crate) fn load(_path: &Path) -> Result<Self, String> {
        Err("this build has no e5 engine: run infra/models.sh, then rebuild".to_owned())
    }

    /// The vectors' length.
    pub(crate) fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Embeds `texts` with the query or passage prefix, one normalized vector each.
    #[cfg(e5_engine)]
    pub(crate) fn embed(&self, texts: &[String], is_query: bool) -> Result<Vec<Vec<f32>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // The engine takes C strings: a NUL inside a customer's text becomes a space.
        let owned: Vec<std::ffi::CString> = texts
            .iter()
            .map(|t| std::ffi::CString::new(t.replace('\0', " ")))
            .collect::<Result<_, _>>()
            .map_err(|_| "text with a NUL byte".to_owned())?;
        let pointers: Vec<*const std::os::raw::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let n =
            std::os::raw::c_int::try_from(texts.len()).map_err(|_| "too many texts".to_owned())?;
        let mut out = vec![0f32; texts.len() * self.dimensions];
        // SAFETY: `pointers` holds `n` valid C strings that outlive the call (`owned`), and `out`
        // holds `n × dimensions` floats, as `e5_embed_batch` requires.
        let rc = unsafe {
            sys::e5_embed_batch(
                self.ptr.as_ptr(),
                pointers.as_ptr(),
                n,
                std::os::raw::c_int::from(is_query),
                out.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(format!("the e5 engine failed ({rc})"));
        }
        Ok(out.chunks(self.dimensions).map(<[f32]>::to_vec).collect())
    }

    /// Without the engine no model exists to call.
    #[cfg(not(e5_engine))]
    pub(crate) fn embed(
        &self,
        _texts: &[String],
        _is_query: bool,
    ) -> Result<Vec<Vec<f32>>, String> {
        Err("this build has no e5 engine".to_owned())
    }
}

#[cfg(e5_engine)]
impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `e5_load` and is freed exactly once, here.
        unsafe { sys::e5_free(self.ptr.as_ptr()) }
    }
}
