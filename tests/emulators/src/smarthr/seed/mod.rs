//! Deterministic seed data of the SmartHR emulator: a fictional Japanese
//! company with business establishments, employment types, job titles, a
//! department tree, custom field groups and fields, crews and their user
//! accounts. Every record is a pure function of its index, so two emulators
//! with the same counts hold the same data.

use serde_json::{Value, json};

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

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` of a day count.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

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
    let local = unix_secs + 9 * 3600;
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.000+09:00",
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

// ---------------------------------------------------------------------------
// Tables

/// (kanji, katakana, romaji) family names.
const FAMILY: [(&str, &str, &str); 40] = [
    ("佐藤", "サトウ", "sato"),
    ("鈴木", "スズキ", "suzuki"),
    ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"),
    ("伊藤", "イトウ", "ito"),
    ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"),
    ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"),
    ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"),
    ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"),
    ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"),
    ("斎藤", "サイトウ", "saito"),
    ("清水", "シミズ", "shimizu"),
    ("山崎", "ヤマザキ", "yamazaki"),
    ("森", "モリ", "mori"),
    ("池田", "イケダ", "ikeda"),
    ("橋本", "ハシモト", "hashimoto"),
    ("阿部", "アベ", "abe"),
    ("石川", "イシカワ", "ishikawa"),
    ("山下", "ヤマシタ", "yamashita"),
    ("中島", "ナカジマ", "nakajima"),
    ("石井", "イシイ", "ishii"),
    ("小川", "オガワ", "ogawa"),
    ("前田", "マエダ", "maeda"),
    ("岡田", "オカダ", "okada"),
    ("長谷川", "ハセガワ", "hasegawa"),
    ("藤田", "フジタ", "fujita"),
    ("後藤", "ゴトウ", "goto"),
    ("近藤", "コンドウ", "kondo"),
    ("村上", "ムラカミ", "murakami"),
    ("遠藤", "エンドウ", "endo"),
    ("青木", "アオキ", "aoki"),
    ("坂本", "サカモト", "sakamoto"),
];

/// (kanji, katakana, romaji) given names, male.
const GIVEN_MALE: [(&str, &str, &str); 24] = [
    ("翔太", "ショウタ", "shota"),
    ("大輔", "ダイスケ", "daisuke"),
    ("健太", "ケンタ", "kenta"),
    ("拓也", "タクヤ", "takuya"),
    ("直樹", "ナオキ", "naoki"),
    ("和也", "カズヤ", "kazuya"),
    ("誠", "マコト", "makoto"),
    ("隆", "タカシ", "takashi"),
    ("浩", "ヒロシ", "hiroshi"),
    ("蓮", "レン", "ren"),
    ("悠斗", "ユウト", "yuto"),
    ("陽翔", "ハルト", "haruto"),
    ("大樹", "ダイキ", "daiki"),
    ("亮", "リョウ", "ryo"),
    ("修", "オサム", "osamu"),
    ("聡", "サトシ", "satoshi"),
    ("学", "マナブ", "manabu"),
    ("健一", "ケンイチ", "kenichi"),
    ("雄介", "ユウスケ", "yusuke"),
    ("俊介", "シュンスケ", "shunsuke"),
    ("達也", "タツヤ", "tatsuya"),
    ("智也", "トモヤ", "tomoya"),
    ("康平", "コウヘイ", "kohei"),
    ("湊", "ミナト", "minato"),
];

/// (kanji, katakana, romaji) given names, female.
const GIVEN_FEMALE: [(&str, &str, &str); 24] = [
    ("花子", "ハナコ", "hanako"),
    ("陽菜", "ヒナ", "hina"),
    ("美咲", "ミサキ", "misaki"),
    ("さくら", "サクラ", "sakura"),
    ("愛", "アイ", "ai"),
    ("優子", "ユウコ", "yuko"),
    ("恵", "メグミ", "megumi"),
    ("真由美", "マユミ", "mayumi"),
    ("彩", "アヤ", "aya"),
    ("結衣", "ユイ", "yui"),
    ("葵", "アオイ", "aoi"),
    ("芽衣", "メイ", "mei"),
    ("千尋", "チヒロ", "chihiro"),
    ("麻衣", "マイ", "mai"),
    ("奈々", "ナナ", "nana"),
    ("由美", "ユミ", "yumi"),
    ("香織", "カオリ", "kaori"),
    ("裕子", "ユウコ", "hiroko"),
    ("明美", "アケミ", "akemi"),
    ("直美", "ナオミ", "naomi"),
    ("凛", "リン", "rin"),
    ("紗希", "サキ", "saki"),
    ("舞", "マイ", "mai"),
    ("遥", "ハルカ", "haruka"),
];

/// (name, preset_type) of the employment types; custom ones have no preset.
const EMPLOYMENT_TYPES: [(&str, Option<&str>); 9] = [
    ("役員", Some("board_member")),
    ("正社員", Some("full_timer")),
    ("契約社員", Some("contract_worker")),
    ("派遣社員", Some("permatemp")),
    ("パート・アルバイト", Some("part_timer")),
    ("業務委託", Some("outsourcing_contractor")),
    ("その他", Some("etc")),
    ("嘱託社員", None),
    ("インターン", None),
];

/// (name, rank) of the job titles.
const JOB_TITLES: [(&str, u32); 12] = [
    ("代表取締役", 1),
    ("取締役", 2),
    ("執行役員", 5),
    ("本部長", 10),
    ("部長", 20),
    ("次長", 30),
    ("課長", 40),
    ("課長代理", 50),
    ("係長", 60),
    ("主任", 70),
    ("リーダー", 80),
    ("メンバー", 90),
];

/// A business establishment: (name, soc_ins_name, pref, city, street, zip,
/// tel, tax office).
type EstablishmentSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const ESTABLISHMENTS: [EstablishmentSpec; 4] = [
    (
        "本社",
        "株式会社カードホスト",
        "東京都",
        "港区",
        "六本木一丁目4番5号",
        "106-0032",
        "03-5555-0100",
        "麻布税務署",
    ),
    (
        "大阪支店",
        "株式会社カードホスト 大阪支店",
        "大阪府",
        "大阪市北区",
        "梅田三丁目1番3号",
        "530-0001",
        "06-5555-0200",
        "北税務署",
    ),
    (
        "福岡支店",
        "株式会社カードホスト 福岡支店",
        "福岡県",
        "福岡市博多区",
        "博多駅中央街8番1号",
        "812-0012",
        "092-555-0300",
        "博多税務署",
    ),
    (
        "札幌営業所",
        "株式会社カードホスト 札幌営業所",
        "北海道",
        "札幌市中央区",
        "北五条西二丁目5番",
        "060-0005",
        "011-555-0400",
        "札幌中税務署",
    ),
];

/// Divisions and the departments under each.
const DIVISIONS: [(&str, [&str; 4]); 8] = [
    (
        "営業本部",
        ["第一営業部", "第二営業部", "法人営業部", "営業企画部"],
    ),
    (
        "開発本部",
        ["プロダクト開発部", "基盤開発部", "品質保証部", "デザイン部"],
    ),
    ("管理本部", ["人事部", "総務部", "経理部", "法務部"]),
    (
        "マーケティング本部",
        [
            "ブランド推進部",
            "デジタルマーケティング部",
            "広報部",
            "市場調査部",
        ],
    ),
    (
        "カスタマーサクセス本部",
        ["導入支援部", "サポート部", "顧客育成部", "パートナー部"],
    ),
    (
        "経営企画本部",
        ["経営企画部", "事業開発部", "IR部", "内部監査部"],
    ),
    (
        "製造本部",
        ["第一製造部", "第二製造部", "生産管理部", "購買部"],
    ),
    (
        "情報システム本部",
        [
            "社内IT部",
            "セキュリティ部",
            "データ基盤部",
            "ヘルプデスク部",
        ],
    ),
];

const SECTION_NUMERALS: [&str; 9] = ["一", "二", "三", "四", "五", "六", "七", "八", "九"];

const OCCUPATIONS: [&str; 10] = [
    "法人営業",
    "ソフトウェア開発",
    "品質保証",
    "人事労務",
    "経理財務",
    "マーケティング",
    "カスタマーサポート",
    "経営企画",
    "製造",
    "社内システム運用",
];

/// (group name, access_type).
const TEMPLATE_GROUPS: [(&str, &str); 7] = [
    ("基本情報", "read_and_update"),
    ("スキル", "read_and_update"),
    ("資格", "read_and_update_values"),
    ("人事評価", "hidden"),
    ("通勤", "read_and_update"),
    ("IT資産", "read_and_update_values"),
    ("その他", "read_and_update"),
];

/// A named custom field: (name, type, group index, hint, enum choices).
type TemplateSpec = (
    &'static str,
    &'static str,
    usize,
    &'static str,
    &'static [&'static str],
);

const TEMPLATES: [TemplateSpec; 24] = [
    ("社内呼称", "string", 0, "社内で呼ばれている名前", &[]),
    ("内線番号", "string", 0, "4桁の内線番号", &[]),
    ("座席番号", "string", 0, "", &[]),
    ("血液型", "enum", 0, "", &["A", "B", "O", "AB"]),
    ("趣味", "text", 0, "", &[]),
    ("プログラミング言語", "string", 1, "カンマ区切り", &[]),
    ("TOEICスコア", "decimal", 1, "", &[]),
    (
        "英語力",
        "enum",
        1,
        "",
        &["ネイティブ", "ビジネス", "日常会話", "なし"],
    ),
    ("得意分野", "text", 1, "", &[]),
    ("基本情報技術者 取得日", "date", 2, "", &[]),
    ("応用情報技術者 取得日", "date", 2, "", &[]),
    ("簿記", "enum", 2, "", &["1級", "2級", "3級", "なし"]),
    ("運転免許", "enum", 2, "", &["あり", "なし"]),
    ("前期評価", "enum", 3, "", &["S", "A", "B", "C", "D"]),
    ("等級", "string", 3, "例: G3", &[]),
    ("評価コメント", "text", 3, "", &[]),
    ("目標達成率", "decimal", 3, "%", &[]),
    ("最寄り駅", "string", 4, "", &[]),
    ("通勤時間(分)", "decimal", 4, "片道", &[]),
    (
        "通勤手段",
        "enum",
        4,
        "",
        &["電車", "バス", "自転車", "徒歩", "車"],
    ),
    ("PC資産番号", "string", 5, "", &[]),
    ("スマートフォン貸与", "enum", 5, "", &["あり", "なし"]),
    ("入館証番号", "string", 5, "", &[]),
    ("マイナンバー提出書類", "file", 5, "", &[]),
];

const STATIONS: [&str; 12] = [
    "六本木",
    "渋谷",
    "新宿",
    "品川",
    "東京",
    "池袋",
    "梅田",
    "難波",
    "博多",
    "天神",
    "札幌",
    "大通",
];

const HOBBIES: [&str; 8] = [
    "読書と散歩",
    "キャンプ",
    "料理",
    "ランニング",
    "写真撮影",
    "ボードゲーム",
    "登山",
    "映画鑑賞",
];

// Salts, one per kind of id.
const SALT_BIZ: u64 = 11;
const SALT_EMPLOYMENT_TYPE: u64 = 12;
const SALT_JOB_TITLE: u64 = 13;
const SALT_DEPARTMENT: u64 = 14;
const SALT_GROUP: u64 = 15;
const SALT_TEMPLATE: u64 = 16;
const SALT_ELEMENT: u64 = 17;
const SALT_CREW: u64 = 18;
const SALT_USER: u64 = 19;
const SALT_ROLE: u64 = 20;
/// Salt of crews created through the API (with a serial number).
pub const SALT_NEW_CREW: u64 = 21;

/// When the seed records were created: 2019-04-01 09:00 JST.
fn epoch_days() -> i64 {
    days_from_civil(2019, 4, 1)
}

fn stamp(days: i64, offset: u64) -> String {
    format_time(morning(days) + (offset % 28_800) as i64)
}

fn biz_establishments() -> Vec<Value> {
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

fn employment_types() -> Vec<Value> {
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

fn job_titles() -> Vec<Value> {
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
struct DepartmentSpec {
    name: String,
    code: String,
    parent: Option<usize>,
}

/// The department tree, breadth first: divisions, their departments, then
/// sections (第一課, 第二課 ...) under departments, round-robin, until
/// `count`.
fn department_specs(count: usize) -> Vec<DepartmentSpec> {
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

fn departments(count: usize) -> Vec<Value> {
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

fn template_groups() -> Vec<Value> {
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

fn templates(count: usize) -> Vec<Value> {
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
fn custom_value(template: &Value, t: usize, i: usize, entered: i64) -> Option<Value> {
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
fn role(kind: usize) -> Value {
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
fn user_role_of(i: usize) -> Option<usize> {
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
