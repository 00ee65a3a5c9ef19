//! The main job on the embedded default: `quickstart` packs, signs, verifies, attests
//! provenance and verifies it, and rejects a tampered copy, in a fresh folder.

mod common;

use common::*;

#[test]
fn quickstart_runs_the_main_job_end_to_end() {
    let ws = Workspace::new();
    let dir = ws.path("qs");
    let out = modelseal()
        .args(["quickstart", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "2 of 2 signatures verified",
        "Wrote SLSA provenance v1",
        "2 of 2 attestations verified",
        "1 of 1 scan attestations verified",
        "Rejected, as it must be",
        "admit oci:",
        "reject oci:",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    // What it left behind verifies with the commands it suggests.
    let layout = format!("oci:{}:v1", dir.join("layout").display());
    let public = dir.join("quickstart.pub");
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &layout]);
    assert!(report.contains("2 of 2 signatures verified"), "{report}");
    ok(&[
        "verify-attestation",
        "--key",
        public.to_str().unwrap(),
        "--type",
        "slsaprovenance1",
        &layout,
    ]);
    // A folder that exists is not reused.
    let again = modelseal()
        .args(["quickstart", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_fails(&again, 2, "must not exist yet");
}
