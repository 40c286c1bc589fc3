//! Deterministic seed data of the SmartHR emulator: a fictional Japanese
//! company with business establishments, employment types, job titles, a
//! department tree, custom field groups and fields, crews and their user
//! accounts. Every record is a pure function of its index, so two emulators
//! with the same counts hold the same data.

mod records;
mod tables;

pub use records::custom_field_entry;
use records::{
    biz_establishments, custom_value, departments, employment_types, epoch_days, job_titles, role,
    stamp, template_groups, templates, user_role_of,
};
use serde_json::{Value, json};
pub use tables::SALT_NEW_CREW;
use tables::{DIVISIONS, FAMILY, GIVEN_FEMALE, GIVEN_MALE, OCCUPATIONS, SALT_CREW, SALT_USER};

/// How much to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Crews (employees).
    pub crews: usize,
    /// Departments (a tree of divisions, departments and sections).
    pub departments: usize,
    /// Custom field templates; beyond the named ones, numbered free fields.
    pub custom_fields: usize,
}

/// Everything the emulator starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    /// `/biz_establishments`.
    pub biz_establishments: Vec<Value>,
    /// `/employment_types`.
    pub employment_types: Vec<Value>,
    /// `/job_titles`.
    pub job_titles: Vec<Value>,
    /// `/departments`, with shallow `parent` and `children`.
    pub departments: Vec<Value>,
    /// `/crew_custom_field_template_groups` (without `templates`).
    pub template_groups: Vec<Value>,
    /// `/crew_custom_field_templates` (with `group_id`).
    pub templates: Vec<Value>,
    /// `/crews`.
    pub crews: Vec<Value>,
    /// `/users` (with `crew_id`).
    pub users: Vec<Value>,
}

// ---------------------------------------------------------------------------
// Determinism helpers

/// SplitMix64 of an index and a salt.
pub fn mix(index: usize, salt: u64) -> u64 {
    let mut z = (index as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(items: &[T], index: usize, salt: u64) -> T {
    items[(mix(index, salt) % items.len() as u64) as usize]
}

/// A version-4-shaped UUID derived from `(salt, index)`.
pub fn uuid(salt: u64, index: usize) -> String {
    let a = mix(index, salt);
    let b = mix(index, salt ^ 0x5EED_5EED_5EED_5EED);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------------------
// Dates and times (proleptic Gregorian; SmartHR writes times in JST)

pub use cardhost_rules::time::{civil_from_days, date as format_date, days_from_civil};

/// Whether `text` is a `YYYY-MM-DD` date that exists.
pub fn valid_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &text[range];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    if !(1..=12).contains(&m) || d < 1 {
        return false;
    }
    let (y2, m2, d2) = civil_from_days(days_from_civil(y, m as u32, d as u32));
    (y2, i64::from(m2), i64::from(d2)) == (y, m, d)
}

/// A Unix time as SmartHR writes it: JST with milliseconds,
/// `2024-04-01T09:00:00.000+09:00`.
pub fn format_time(unix_secs: i64) -> String {
    format_time_millis(unix_secs.saturating_mul(1000))
}

/// A Unix time in milliseconds as SmartHR writes it: JST with
/// milliseconds, `2024-04-01T09:00:00.250+09:00`.
pub fn format_time_millis(unix_millis: i64) -> String {
    let local = unix_millis.div_euclid(1000) + 9 * 3600;
    let millis = unix_millis.rem_euclid(1000);
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.{millis:03}+09:00",
        format_date(days),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix seconds of 09:00 JST on a day.
fn morning(days: i64) -> i64 {
    days * 86_400
}

/// The seed data for these counts.
pub fn seed(counts: Counts) -> Seed {
    let biz = biz_establishments();
    let types = employment_types();
    let titles = job_titles();
    let depts = departments(counts.departments);
    let groups = template_groups();
    let temps = templates(counts.custom_fields);
    let leaves: Vec<usize> = (0..depts.len())
        .filter(|&d| depts[d]["children"].as_array().is_none_or(|c| c.is_empty()))
        .collect();
    let dept_ref = |d: usize| -> Value {
        json!({
            "id": depts[d]["id"],
            "name": depts[d]["name"],
            "code": depts[d]["code"],
            "position": depts[d]["position"],
        })
    };

    let today = days_from_civil(2025, 6, 1);
    let mut crews = Vec::with_capacity(counts.crews);
    let mut users = Vec::new();
    for i in 0..counts.crews {
        let female = mix(i, 1).is_multiple_of(2);
        let family = pick(&FAMILY, i, 2);
        let given = if female {
            pick(&GIVEN_FEMALE, i, 3)
        } else {
            pick(&GIVEN_MALE, i, 3)
        };
        // Employment type: the first crews are the board.
        let type_index = if i < 4 {
            0
        } else {
            match mix(i, 4) % 20 {
                0..=13 => 1,
                14 | 15 => 2,
                16 => 3,
                17 => 4,
                18 => 5,
                _ => 7 + (mix(i, 5) % 2) as usize,
            }
        };
        let employment_type = &types[type_index];
        let entered = days_from_civil(2005, 4, 1) + (mix(i, 6) % 7300) as i64;
        let status = match mix(i, 7) % 20 {
            0 | 1 => "retired",
            2 => "absent",
            _ => "employed",
        };
        let resigned = (status == "retired")
            .then(|| (entered + 180 + (mix(i, 8) % 2000) as i64).min(today - 1));
        let birth =
            days_from_civil(1960 + (mix(i, 9) % 44) as i64, 1, 1) + (mix(i, 10) % 365) as i64;
        let title = if i == 0 {
            "代表取締役"
        } else if i < 4 {
            "取締役"
        } else {
            match mix(i, 11) % 30 {
                0 => "本部長",
                1 | 2 => "部長",
                3 => "次長",
                4..=6 => "課長",
                7 => "課長代理",
                8 | 9 => "係長",
                10..=13 => "主任",
                14 | 15 => "リーダー",
                _ => "メンバー",
            }
        };
        let mut crew_depts = vec![if i < 4 {
            dept_ref((i + 2) % DIVISIONS.len().min(depts.len()))
        } else {
            dept_ref(pick(&leaves, i, 12))
        }];
        if mix(i, 13).is_multiple_of(12) && leaves.len() > 1 {
            let second = dept_ref(pick(&leaves, i, 14));
            if second["id"] != crew_depts[0]["id"] {
                crew_depts.push(second);
            }
        }
        let maiden = female && mix(i, 15).is_multiple_of(15);
        let maiden_name = pick(&FAMILY, i, 16);
        let custom_fields: Vec<Value> = temps
            .iter()
            .enumerate()
            .filter(|(t, _)| mix(i, 300 + *t as u64).is_multiple_of(4) || *t == 1)
            .filter_map(|(t, template)| {
                custom_value(template, t, i, entered).map(|v| custom_field_entry(template, v))
            })
            .collect();
        let user = user_role_of(i).map(|_| uuid(SALT_USER, i));
        let created = stamp(entered.max(epoch_days()) - 14, mix(i, 17));
        let updated = stamp(
            (entered + (mix(i, 18) % 3000) as i64)
                .max(epoch_days())
                .min(today),
            mix(i, 19),
        );
        let email = format!("{}.{}{}@cardhost-demo.example", given.2, family.2, i + 1);
        crews.push(json!({
            "id": uuid(SALT_CREW, i),
            "user_id": user,
            "biz_establishment_id": biz[pick(&[0usize, 0, 0, 1, 1, 2, 3], i, 20)]["id"],
            "emp_code": format!("{:05}", i + 1),
            "emp_type": employment_type["preset_type"],
            "employment_type": {
                "id": employment_type["id"],
                "name": employment_type["name"],
                "preset_type": employment_type["preset_type"],
                "created_at": employment_type["created_at"],
                "updated_at": employment_type["updated_at"],
            },
            "emp_status": status,
            "last_name": if maiden { maiden_name.0 } else { family.0 },
            "first_name": given.0,
            "last_name_yomi": if maiden { maiden_name.1 } else { family.1 },
            "first_name_yomi": given.1,
            "business_last_name": if maiden { Value::from(family.0) } else { Value::Null },
            "business_first_name": if maiden { Value::from(given.0) } else { Value::Null },
            "business_last_name_yomi": if maiden { Value::from(family.1) } else { Value::Null },
            "business_first_name_yomi": if maiden { Value::from(given.1) } else { Value::Null },
            "birth_at": format_date(birth),
            "gender": if female { "female" } else { "male" },
            "email": email,
            "tel_number": format!("080-{:04}-{:04}", mix(i, 21) % 10_000, mix(i, 22) % 10_000),
            "department": crew_depts[0]["name"],
            "departments": crew_depts,
            "position": title,
            "occupation": pick(&OCCUPATIONS, i, 23),
            "entered_at": format_date(entered),
            "resigned_at": resigned.map(format_date),
            "resigned_reason": resigned.map(|_| pick(&["自己都合", "契約期間満了", "定年退職"], i, 24)),
            "custom_fields": custom_fields,
            "created_at": created,
            "updated_at": updated,
        }));
        if let (Some(kind), Some(user_id)) = (user_role_of(i), user) {
            let invited = stamp(entered.max(epoch_days()), mix(i, 25));
            users.push(json!({
                "id": user_id,
                "email": email,
                "admin": kind == 0,
                "role": role(kind),
                "agreement_for_electronic_delivery": !mix(i, 26).is_multiple_of(5),
                "crew_id": uuid(SALT_CREW, i),
                "invitation_created_at": invited,
                "invitation_opened_at": invited,
                "invitation_accepted_at": invited,
                "invitation_answered_at": invited,
                "has_password": true,
                "created_at": invited,
                "updated_at": updated,
            }));
        }
    }
    // Two users without a crew: the outside labour and social security
    // attorney and an auditor.
    for (k, (email, kind)) in [
        ("sharoushi@roumu-office.example", 1usize),
        ("audit@kansa.example", 2),
    ]
    .iter()
    .enumerate()
    {
        let at = stamp(epoch_days() + 5, mix(k, 27));
        users.push(json!({
            "id": uuid(SALT_USER, 100_000 + k),
            "email": email,
            "admin": false,
            "role": role(*kind),
            "agreement_for_electronic_delivery": false,
            "crew_id": Value::Null,
            "invitation_created_at": at,
            "invitation_opened_at": Value::Null,
            "invitation_accepted_at": Value::Null,
            "invitation_answered_at": Value::Null,
            "has_password": false,
            "created_at": at,
            "updated_at": at,
        }));
    }
    Seed {
        biz_establishments: biz,
        employment_types: types,
        job_titles: titles,
        departments: depts,
        template_groups: groups,
        templates: temps,
        crews,
        users,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn counts() -> Counts {
        Counts {
            crews: 300,
            departments: 80,
            custom_fields: 40,
        }
    }

    #[test]
    fn dates_round_trip_and_times_are_jst() {
        for days in [-1, 0, 59, 10_957, 19_358, 20_361] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_time(0), "1970-01-01T09:00:00.000+09:00");
        assert_eq!(
            format_time_millis(86_399_250),
            "1970-01-02T08:59:59.250+09:00"
        );
        assert_eq!(format_time_millis(-1), "1970-01-01T08:59:59.999+09:00");
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
        assert!(!valid_date("2023-00-10"));
    }

    #[test]
    fn seed_is_deterministic_and_consistent() {
        let a = seed(counts());
        assert_eq!(a, seed(counts()));
        assert_eq!(a.crews.len(), 300);
        assert_eq!(a.departments.len(), 80);
        assert_eq!(a.templates.len(), 40);
        let ids: HashSet<_> = a.crews.iter().map(|c| c["id"].clone()).collect();
        assert_eq!(ids.len(), 300);
        let codes: HashSet<_> = a.crews.iter().map(|c| c["emp_code"].clone()).collect();
        assert_eq!(codes.len(), 300);
        let dept_ids: HashSet<_> = a.departments.iter().map(|d| d["id"].clone()).collect();
        assert_eq!(dept_ids.len(), 80);
        for crew in &a.crews {
            for d in crew["departments"].as_array().unwrap() {
                assert!(dept_ids.contains(&d["id"]));
            }
            assert!(
                a.employment_types
                    .iter()
                    .any(|t| t["id"] == crew["employment_type"]["id"])
            );
            for field in crew["custom_fields"].as_array().unwrap() {
                let template = a
                    .templates
                    .iter()
                    .find(|t| t["id"] == field["template"]["id"])
                    .unwrap();
                if template["type"] == "enum" {
                    assert!(
                        template["elements"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|e| e["id"] == field["value"])
                    );
                }
            }
            if crew["emp_status"] == "retired" {
                assert!(
                    crew["resigned_at"].as_str().unwrap() > crew["entered_at"].as_str().unwrap()
                );
            }
        }
        for user in &a.users {
            if let Some(crew) = user["crew_id"].as_str() {
                let crew = a.crews.iter().find(|c| c["id"] == crew).unwrap();
                assert_eq!(crew["user_id"], user["id"]);
            }
        }
        let statuses: HashSet<_> = a.crews.iter().map(|c| c["emp_status"].clone()).collect();
        assert_eq!(statuses.len(), 3);
        for d in &a.departments {
            if let Some(parent) = d["parent"]["id"].as_str() {
                let parent = a.departments.iter().find(|p| p["id"] == parent).unwrap();
                assert!(
                    parent["children"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["id"] == d["id"])
                );
            }
        }
    }
}
