#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| liaison_fuzz::focal_point_record(data));
