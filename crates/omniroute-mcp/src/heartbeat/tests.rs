use std::time::Duration;

use serde_json::Value;

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("omniroute-mcp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn beats_now_and_every_five_seconds() {
    let dir = temp_dir("heartbeat");
    let hb = Heartbeat::in_data_dir(&dir);
    assert_eq!(hb.path, dir.join("runtime/mcp-heartbeat.json"));
    let before = unix_ms();
    let task = hb.start("stdio", 21, "read:health,read:models").unwrap();
    let v = read(&hb.path);
    assert_eq!(v["pid"], std::process::id());
    assert_eq!(v["transport"], "stdio");
    assert_eq!(v["tool_count"], 21);
    assert_eq!(v["scope_mode"], "read:health,read:models");
    let started = v["started_at"].as_u64().unwrap();
    assert!(started >= before && started <= unix_ms());
    assert_eq!(v["last_beat"], v["started_at"]);
    let fields: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["pid", "started_at", "last_beat", "transport", "tool_count", "scope_mode"]);

    // The next beat rewrites the file (here: recreates it).
    std::fs::remove_file(&hb.path).unwrap();
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    let v = read(&hb.path);
    assert_eq!(v["started_at"], started);
    assert!(v["last_beat"].as_u64().unwrap() >= started);
    // Only the file itself is left: the temporary one was renamed over it.
    let names: Vec<_> = std::fs::read_dir(hb.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["mcp-heartbeat.json"]);

    // Dropping the task stops the beats.
    drop(task);
    std::fs::remove_file(&hb.path).unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(!hb.path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_unwritable_place_fails_the_start() {
    let dir = temp_dir("heartbeat-blocked");
    std::fs::create_dir_all(&dir).unwrap();
    // A file where the runtime directory should be.
    std::fs::write(dir.join("runtime"), b"").unwrap();
    assert!(Heartbeat::in_data_dir(&dir).start("stdio", 21, "full").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
