//! The tables seed records are drawn from (names, employment types, job
//! titles, establishments, divisions, custom fields) and the salts of
//! each kind of id.

/// (kanji, katakana, romaji) family names.
pub(super) const FAMILY: [(&str, &str, &str); 40] = [
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
pub(super) const GIVEN_MALE: [(&str, &str, &str); 24] = [
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
pub(super) const GIVEN_FEMALE: [(&str, &str, &str); 24] = [
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
pub(super) const EMPLOYMENT_TYPES: [(&str, Option<&str>); 9] = [
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
pub(super) const JOB_TITLES: [(&str, u32); 12] = [
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
pub(super) type EstablishmentSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

pub(super) const ESTABLISHMENTS: [EstablishmentSpec; 4] = [
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
pub(super) const DIVISIONS: [(&str, [&str; 4]); 8] = [
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

pub(super) const SECTION_NUMERALS: [&str; 9] =
    ["一", "二", "三", "四", "五", "六", "七", "八", "九"];

pub(super) const OCCUPATIONS: [&str; 10] = [
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
pub(super) const TEMPLATE_GROUPS: [(&str, &str); 7] = [
    ("基本情報", "read_and_update"),
    ("スキル", "read_and_update"),
    ("資格", "read_and_update_values"),
    ("人事評価", "hidden"),
    ("通勤", "read_and_update"),
    ("IT資産", "read_and_update_values"),
    ("その他", "read_and_update"),
];

/// A named custom field: (name, type, group index, hint, enum choices).
pub(super) type TemplateSpec = (
    &'static str,
    &'static str,
    usize,
    &'static str,
    &'static [&'static str],
);

pub(super) const TEMPLATES: [TemplateSpec; 24] = [
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

pub(super) const STATIONS: [&str; 12] = [
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

pub(super) const HOBBIES: [&str; 8] = [
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
pub(super) const SALT_BIZ: u64 = 11;
pub(super) const SALT_EMPLOYMENT_TYPE: u64 = 12;
pub(super) const SALT_JOB_TITLE: u64 = 13;
pub(super) const SALT_DEPARTMENT: u64 = 14;
pub(super) const SALT_GROUP: u64 = 15;
pub(super) const SALT_TEMPLATE: u64 = 16;
pub(super) const SALT_ELEMENT: u64 = 17;
pub(super) const SALT_CREW: u64 = 18;
pub(super) const SALT_USER: u64 = 19;
pub(super) const SALT_ROLE: u64 = 20;
/// Salt of crews created through the API (with a serial number).
pub const SALT_NEW_CREW: u64 = 21;
