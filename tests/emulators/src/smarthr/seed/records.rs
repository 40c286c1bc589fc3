//! Builders of each kind of seed record: establishments, employment types,
//! job titles, departments, custom field groups and templates, and roles.

use super::tables::{
    DIVISIONS, EMPLOYMENT_TYPES, ESTABLISHMENTS, HOBBIES, JOB_TITLES, SALT_BIZ, SALT_DEPARTMENT,
    SALT_ELEMENT, SALT_EMPLOYMENT_TYPE, SALT_GROUP, SALT_JOB_TITLE, SALT_ROLE, SALT_TEMPLATE,
    SECTION_NUMERALS, STATIONS, TEMPLATE_GROUPS, TEMPLATES,
};
use super::{days_from_civil, format_date, format_time, mix, morning, pick, uuid};
use serde_json::{Value, json};

/// When the seed records were created: 2019-04-01 09:00 JST.
pub(super) fn epoch_days() -> i64 {
    days_from_civil(2019, 4, 1)
}

pub(super) fn stamp(days: i64, offset: u64) -> String {
    format_time(morning(days) + (offset % 28_800) as i64)
}

pub(super) fn biz_establishments() -> Vec<Value> {
    ESTABLISHMENTS
        .iter()
        .enumerate()
        .map(|(i, (name, soc_name, pref, city, street, zip, tel, tax))| {
            let address = json!({
                "id": uuid(SALT_BIZ + 100, i),
                "country_number": "392",
                "zip_code": zip,
                "pref": pref,
                "city": city,
                "street": street,
                "building": if i == 0 { Value::from("カードホストタワー 12F") } else { Value::Null },
                "literal_yomi": Value::Null,
            });
            json!({
                "id": uuid(SALT_BIZ, i),
                "name": name,
                "soc_ins_name": soc_name,
                "soc_ins_owner_id": Value::Null,
                "soc_ins_address": address,
                "soc_ins_tel_number": tel,
                "lab_ins_name": soc_name,
                "lab_ins_owner_id": Value::Null,
                "lab_ins_address": address,
                "lab_ins_tel_number": tel,
                "hel_ins_type": if i == 0 { "its_kenpo" } else { "kyokai_kenpo" },
                "hel_ins_name": if i == 0 { Value::from("関東ITソフトウェア健康保険組合") } else { Value::from("全国健康保険協会") },
                "jurisdiction_tax": tax,
                "salary_payer_address": address,
                "created_at": stamp(epoch_days(), mix(i, SALT_BIZ)),
                "updated_at": stamp(epoch_days() + 30 + i as i64, mix(i, SALT_BIZ + 1)),
            })
        })
        .collect()
}

pub(super) fn employment_types() -> Vec<Value> {
    EMPLOYMENT_TYPES
        .iter()
        .enumerate()
        .map(|(i, (name, preset))| {
            json!({
                "id": uuid(SALT_EMPLOYMENT_TYPE, i),
                "name": name,
                "preset_type": preset,
                "created_at": stamp(epoch_days(), mix(i, SALT_EMPLOYMENT_TYPE)),
                "updated_at": stamp(epoch_days(), mix(i, SALT_EMPLOYMENT_TYPE)),
            })
        })
        .collect()
}

pub(super) fn job_titles() -> Vec<Value> {
    JOB_TITLES
        .iter()
        .enumerate()
        .map(|(i, (name, rank))| {
            json!({
                "id": uuid(SALT_JOB_TITLE, i),
                "name": name,
                "rank": rank,
                "created_at": stamp(epoch_days(), mix(i, SALT_JOB_TITLE)),
                "updated_at": stamp(epoch_days() + 200, mix(i, SALT_JOB_TITLE)),
            })
        })
        .collect()
}

/// One department before rendering: name, code, parent index.
pub(super) struct DepartmentSpec {
    pub(super) name: String,
    pub(super) code: String,
    pub(super) parent: Option<usize>,
}

/// The department tree, breadth first: divisions, their departments, then
/// sections (第一課, 第二課 ...) under departments, round-robin, until
/// `count`.
pub(super) fn department_specs(count: usize) -> Vec<DepartmentSpec> {
    let mut specs = Vec::new();
    for (d, (division, _)) in DIVISIONS.iter().enumerate() {
        specs.push(DepartmentSpec {
            name: division.to_string(),
            code: format!("D{:02}", d + 1),
            parent: None,
        });
    }
    for (d, (_, departments)) in DIVISIONS.iter().enumerate() {
        for (k, name) in departments.iter().enumerate() {
            specs.push(DepartmentSpec {
                name: name.to_string(),
                code: format!("D{:02}{:02}", d + 1, k + 1),
                parent: Some(d),
            });
        }
    }
    let departments: Vec<usize> = (DIVISIONS.len()..specs.len()).collect();
    let mut round = 0;
    while specs.len() < count && round < SECTION_NUMERALS.len() {
        for &parent in &departments {
            if specs.len() >= count {
                break;
            }
            let code = format!("{}{:02}", specs[parent].code, round + 1);
            specs.push(DepartmentSpec {
                name: format!("第{}課", SECTION_NUMERALS[round]),
                code,
                parent: Some(parent),
            });
        }
        round += 1;
    }
    specs.truncate(count.max(1));
    specs
}

pub(super) fn departments(count: usize) -> Vec<Value> {
    let specs = department_specs(count);
    let position = |i: usize| -> usize {
        specs[..i]
            .iter()
            .filter(|s| s.parent == specs[i].parent)
            .count()
            + 1
    };
    let shallow = |i: usize| -> Value {
        json!({
            "id": uuid(SALT_DEPARTMENT, i),
            "name": specs[i].name,
            "code": specs[i].code,
            "position": position(i),
        })
    };
    (0..specs.len())
        .map(|i| {
            let children: Vec<Value> = (0..specs.len())
                .filter(|&c| specs[c].parent == Some(i))
                .map(shallow)
                .collect();
            let mut dept = shallow(i);
            dept["parent"] = specs[i].parent.map(shallow).unwrap_or(Value::Null);
            dept["children"] = Value::Array(children);
            dept["created_at"] = json!(stamp(epoch_days(), mix(i, SALT_DEPARTMENT)));
            dept["updated_at"] = json!(stamp(
                epoch_days() + (mix(i, SALT_DEPARTMENT + 1) % 1500) as i64,
                mix(i, SALT_DEPARTMENT + 2)
            ));
            dept
        })
        .collect()
}

pub(super) fn template_groups() -> Vec<Value> {
    TEMPLATE_GROUPS
        .iter()
        .enumerate()
        .map(|(i, (name, access))| {
            json!({
                "id": uuid(SALT_GROUP, i),
                "name": name,
                "position": i + 1,
                "access_type": access,
                "created_at": stamp(epoch_days() + 10, mix(i, SALT_GROUP)),
                "updated_at": stamp(epoch_days() + 10, mix(i, SALT_GROUP)),
            })
        })
        .collect()
}

pub(super) fn templates(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let (name, kind, group, hint, choices): (String, &str, usize, &str, &[&str]) =
                match TEMPLATES.get(i) {
                    Some((name, kind, group, hint, choices)) => {
                        (name.to_string(), kind, *group, hint, choices)
                    }
                    None => (
                        format!("自由項目{}", i + 1 - TEMPLATES.len()),
                        "string",
                        TEMPLATE_GROUPS.len() - 1,
                        "",
                        &[],
                    ),
                };
            let elements: Vec<Value> = choices
                .iter()
                .enumerate()
                .map(|(k, choice)| {
                    json!({
                        "id": uuid(SALT_ELEMENT, i * 16 + k),
                        "name": choice,
                        "physical_name": format!("choice_{}", k + 1),
                        "position": k + 1,
                    })
                })
                .collect();
            let in_group = (0..i)
                .filter(|&j| TEMPLATES.get(j).map_or(TEMPLATE_GROUPS.len() - 1, |t| t.2) == group)
                .count();
            json!({
                "id": uuid(SALT_TEMPLATE, i),
                "name": name,
                "type": kind,
                "elements": elements,
                "group_id": uuid(SALT_GROUP, group),
                "hint": if hint.is_empty() { Value::Null } else { Value::from(hint) },
                "scale": if kind == "decimal" { Value::from(if name.contains("率") { 1 } else { 0 }) } else { Value::Null },
                "separated_by_commas": if kind == "decimal" { Value::from(false) } else { Value::Null },
                "position": in_group + 1,
                "created_at": stamp(epoch_days() + 10, mix(i, SALT_TEMPLATE)),
                "updated_at": stamp(epoch_days() + 10, mix(i, SALT_TEMPLATE)),
            })
        })
        .collect()
}

/// A crew's custom field entry: its value and the template (without group).
pub fn custom_field_entry(template: &Value, value: Value) -> Value {
    let mut template = template.clone();
    if let Value::Object(map) = &mut template {
        map.remove("group");
    }
    json!({"value": value, "template": template})
}

/// A seeded value for custom field `template` of crew `i`.
pub(super) fn custom_value(template: &Value, t: usize, i: usize, entered: i64) -> Option<Value> {
    let salt = 1000 + t as u64;
    let name = template["name"].as_str().unwrap_or_default();
    Some(match template["type"].as_str()? {
        "string" => match name {
            "社内呼称" => return None,
            "内線番号" => json!(format!("{:04}", 1000 + mix(i, salt) % 9000)),
            "座席番号" => json!(format!(
                "{}F-{:03}",
                2 + mix(i, salt) % 10,
                mix(i, salt + 1) % 200
            )),
            "プログラミング言語" => json!(pick(
                &["Rust", "Go, TypeScript", "Ruby", "Python", "Java, Kotlin"],
                i,
                salt
            )),
            "等級" => json!(format!("G{}", 1 + mix(i, salt) % 8)),
            "最寄り駅" => json!(format!("{}駅", pick(&STATIONS, i, salt))),
            "PC資産番号" => json!(format!("PC-{:05}", i + 1)),
            "入館証番号" => json!(format!("CARD-{:06}", mix(i, salt) % 1_000_000)),
            _ => json!(format!("メモ{}", mix(i, salt) % 100)),
        },
        "text" => match name {
            "趣味" => json!(pick(&HOBBIES, i, salt)),
            "評価コメント" => json!("目標を概ね達成。次期はチーム運営に期待。"),
            _ => json!("業務全般"),
        },
        "decimal" => match name {
            "TOEICスコア" => json!(format!("{}", 400 + (mix(i, salt) % 100) * 5)),
            "目標達成率" => json!(format!(
                "{}.{}",
                70 + mix(i, salt) % 60,
                mix(i, salt + 1) % 10
            )),
            _ => json!(format!("{}", 10 + mix(i, salt) % 80)),
        },
        "date" => json!(format_date(entered + 200 + (mix(i, salt) % 1500) as i64)),
        "enum" => {
            let elements = template["elements"].as_array()?;
            let element = &elements[(mix(i, salt) % elements.len() as u64) as usize];
            element["id"].clone()
        }
        _ => return None,
    })
}

/// The roles users are given: admin, manager, member.
pub(super) fn role(kind: usize) -> Value {
    let (name, description, scope, preset) = match kind {
        0 => (
            "管理者",
            "すべての機能を利用できます",
            "crews_scope_all",
            "admin",
        ),
        1 => (
            "部門マネージャー",
            "所属部署の従業員を閲覧できます",
            "crews_scope_department_subtree",
            "custom",
        ),
        _ => (
            "従業員",
            "自分の情報を閲覧・更新できます",
            "crews_scope_own",
            "crew",
        ),
    };
    json!({
        "id": uuid(SALT_ROLE, kind),
        "name": name,
        "description": description,
        "crews_scope": scope,
        "crews_scope_query": Value::Null,
        "session_timeout_in": Value::Null,
        "preset_type": preset,
    })
}

/// Whether seed crew `i` has a user account, and its role kind.
pub(super) fn user_role_of(i: usize) -> Option<usize> {
    if i < 3 {
        Some(0)
    } else if i < 25 {
        Some(1)
    } else if i.is_multiple_of(3) {
        Some(2)
    } else {
        None
    }
}
