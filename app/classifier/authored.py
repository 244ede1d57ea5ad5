"""Authored training examples: listing texts written for this project (not copied from anywhere),
expanded from templates with a seeded random generator, each labelled ``authored`` in the ``file``
column of the training set.

Why they exist: the real listing copy (``../shared/data/listings``) has no epidemic-prevention rows,
four sexual-health rows, e-cigarette rows that are mostly German, and almost no benign text with the
words banned products share (knife, diffuser, pods, seeds, lubricant ...: they were held out, see its
README). The templates below add those categories in several languages, German and Chinese benign
text (so "German" or "Chinese" does not mean "risky") and hard negatives taken from the benign
look-alikes policy.md names. No row states a legal fact, an identifier or a CAS number: a label says
which policy category a moderator should look at, nothing more.

Authored rows are used for training and, only for categories with too few real validation rows, for
choosing a review threshold; every reported metric is computed on real rows (the model card says
which thresholds rest on authored rows). ``python -m app.classifier.authored`` prints them as CSV.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from dataclasses import dataclass

from app.classifier.features import NONE

PER_TEMPLATE = 12

# Slot fillers shared by the templates ({name} in a template picks one at random).
SLOTS: dict[str, list[str]] = {
    "n": ["1", "2", "3", "5", "10", "20", "50", "100"],
    "ml": ["10ml", "30ml", "60ml", "100ml", "120ml", "2ml", "5 ml"],
    "mg": ["0mg", "3mg", "6mg", "12mg", "20mg", "35mg", "50mg", "2%", "5%"],
    "puffs": ["600", "800", "1500", "3000", "5000", "7000", "9000", "12000", "15000"],
    "flavor": ["mango ice", "strawberry kiwi", "blue razz", "watermelon", "cool mint", "grape", "peach ice",
               "tobacco", "cola", "lychee", "menthol", "banana milk"],
    "color": ["black", "red", "blue", "silver", "pink", "green", "gold", "white"],
    "zh_color": ["黑色", "红色", "蓝色", "银色", "粉色", "绿色"],
    "de_color": ["schwarz", "rot", "blau", "silber", "grün", "weiß"],
    "es_color": ["negro", "rojo", "azul", "plateado", "verde"],
    "inch": ["3.5", "4", "5", "7", "8", "9", "10", "12"],
    "cm": ["9", "12", "15", "18", "21", "25", "30"],
    "qty": ["1 pc", "2 pcs", "5 pcs", "10 pcs", "pack of 3", "set of 6", "wholesale lot"],
    "adj": ["new", "hot sale", "wholesale", "OEM", "2024 new", "premium", "factory direct", "cheap"],
    "zh_adj": ["新款", "热销", "批发", "厂家直销", "正品", "包邮"],
    "plant": ["monstera", "pothos", "snake plant", "peace lily", "fiddle leaf fig", "jade plant", "aloe vera",
              "orchid", "bamboo palm", "rubber plant", "calathea", "succulent"],
    "animal": ["hamster", "rabbit", "parrot", "budgie", "turtle", "goldfish", "koi fish", "chicks", "ducklings",
               "hermit crab", "gecko", "betta fish"],
    "veg": ["tomato", "cucumber", "pepper", "lettuce", "basil", "sunflower", "carrot", "pumpkin", "strawberry"],
    "food": ["green tea", "instant noodles", "olive oil", "dark chocolate", "basmati rice", "oat milk",
             "peanut butter", "coffee beans", "honey", "corn flakes", "tomato sauce", "sea salt"],
    "de_food": ["Vollmilch", "Bio Haferflocken", "Roggenbrot", "Apfelsaft", "Kaffeebohnen", "Gouda Käse",
                "Himbeermarmelade", "Nudeln Spaghetti", "Mineralwasser", "Zartbitterschokolade"],
    "de_item": ["Bettwäsche", "Kaffeebecher", "Handtuch", "Rucksack", "Regenschirm", "Laufschuhe", "Schreibtischlampe",
                "Bratpfanne", "Wasserkocher", "Kopfkissen", "Gartenschlauch", "Werkzeugkoffer"],
    "zh_item": ["保温杯", "手机壳", "数据线", "双肩包", "连衣裙", "运动鞋", "台灯", "收纳盒", "毛巾", "雨伞", "电饭煲", "蓝牙耳机"],
    "es_item": ["camiseta", "mochila", "taza de café", "zapatillas", "lámpara de escritorio", "toalla"],
    "item": ["phone case", "usb cable", "backpack", "t-shirt", "desk lamp", "water bottle", "yoga mat", "wall clock",
             "bluetooth speaker", "throw pillow", "laptop stand", "wireless mouse"],
}


@dataclass(frozen=True)
class Template:
    label: str
    title: str
    description: str = ""
    category: str = ""


def T(label: str, title: str, description: str = "", category: str = "") -> Template:
    return Template(label, title, description, category)


CI, EC, SH, HC, MD, EP, LP = ("controlled_instrument", "e_cigarette", "sexual_health_drug", "hazardous_chemical",
                              "medical_device", "epidemic_prevention", "live_animals_plants")

TEMPLATES: list[Template] = [
    # ------------------------------------------------------------- controlled_instrument
    T(CI, "{adj} automatic OTF knife {color} tactical spring assisted"),
    T(CI, "{adj} butterfly knife balisong {color} stainless steel", "sharp blade, not a trainer"),
    T(CI, "switchblade pocket knife {color} push button auto open"),
    T(CI, "gravity knife {color} {adj}"),
    T(CI, "{inch} inch hunting dagger with sheath {color}", "double edged fixed blade"),
    T(CI, "karambit claw knife {color} {qty}"),
    T(CI, "belt buckle knife hidden blade {color}"),
    T(CI, "self defense stun gun flashlight {n} million volt rechargeable"),
    T(CI, "mini taser keychain {color} electric shock self defense"),
    T(CI, "pepper spray {ml} keychain self defense for women"),
    T(CI, "tear gas spray canister police grade {ml}"),
    T(CI, "brass knuckles {color} knuckle duster {qty}"),
    T(CI, "expandable baton {inch} inch telescopic steel {color}"),
    T(CI, "throwing stars shuriken set {qty}"),
    T(CI, "mini crossbow {color} toothpick crossbow with {n} bolts"),
    T(CI, "hunting crossbow 175 lbs with scope and bolts"),
    T(CI, "crossbow bolts carbon {qty} replacement arrows"),
    T(CI, "nunchaku {color} foam-free steel chain nunchucks"),
    T(CI, "kubotan keychain self defense stick {color}"),
    T(CI, "blowgun {n} darts hunting blow pipe"),
    T(CI, "police handcuffs steel double lock {color}"),
    T(CI, "leg irons shackles restraint steel"),
    T(CI, "thumb cuffs stainless {qty}"),
    T(CI, "spiked baton {color} self defense"),
    T(CI, "{zh_adj} 蝴蝶刀 {zh_color} 不锈钢"),
    T(CI, "{zh_adj} 弹簧刀 自动折叠刀 {zh_color}"),
    T(CI, "{zh_adj} 电击器 防身 高压 {zh_color}"),
    T(CI, "防狼喷雾 辣椒水 {zh_adj}"),
    T(CI, "{zh_adj} 甩棍 伸缩棍 {zh_color}"),
    T(CI, "小型弩 射击 {zh_adj}"),
    T(CI, "手铐 金属 警用 {zh_adj}"),
    T(CI, "指虎 拳扣 {zh_color} {zh_adj}"),
    T(CI, "Springmesser automatisch {de_color} Einhandmesser"),
    T(CI, "Elektroschocker Taschenlampe {de_color} Selbstverteidigung"),
    T(CI, "Schlagring {de_color} Stahl"),
    T(CI, "Pfefferspray {ml} Abwehrspray Selbstschutz"),
    T(CI, "Teleskopschlagstock {inch} Zoll {de_color}"),
    T(CI, "navaja automática {es_color} apertura rápida"),
    T(CI, "pistola eléctrica defensa personal {n} voltios"),
    T(CI, "nóż sprężynowy {color} automatyczny"),
    T(CI, "электрошокер фонарик самооборона"),
    # ------------------------------------------------------------- e_cigarette
    T(EC, "{adj} disposable vape {puffs} puffs {flavor}", "{mg} nicotine salt, rechargeable, prefilled"),
    T(EC, "{flavor} e-liquid {ml} {mg}", "PG/VG 50/50 premium vape juice"),
    T(EC, "nic salt e-juice {flavor} {ml}"),
    T(EC, "vape pen starter kit {color} {n}W"),
    T(EC, "pod system kit {color} refillable {ml} pod"),
    T(EC, "replacement coils 0.{n} ohm mesh {qty}"),
    T(EC, "box mod {n}W dual 18650 {color}"),
    T(EC, "sub ohm tank atomizer {ml} {color}"),
    T(EC, "heat not burn device {color} compatible sticks"),
    T(EC, "dry herb vaporizer {color} portable"),
    T(EC, "prefilled pods {flavor} {qty} compatible cartridges", "{mg} salt nic"),
    T(EC, "CBD vape cartridge {ml} {flavor}"),
    T(EC, "{zh_adj} 一次性电子烟 {puffs}口 {zh_color}"),
    T(EC, "电子烟烟油 {ml} 水果味"),
    T(EC, "{zh_adj} 雾化器 电子烟 换弹"),
    T(EC, "电子烟 烟弹 {zh_adj}"),
    T(EC, "vaper desechable {puffs} caladas {flavor}"),
    T(EC, "cigarette électronique jetable {puffs} bouffées"),
    T(EC, "e-liquide {flavor} {ml} sels de nicotine"),
    T(EC, "одноразовая электронная сигарета {puffs} затяжек"),
    T(EC, "Einweg E-Zigarette {puffs} Züge {flavor}"),
    T(EC, "Liquid {flavor} {ml} Nikotinsalz {mg}"),
    T(EC, "Verdampfer Tank {ml} {de_color}"),
    # ------------------------------------------------------------- sexual_health_drug
    T(SH, "male enhancement pills {n} capsules natural", "increase size, stamina and erection strength"),
    T(SH, "long lasting delay spray for men {ml}", "last longer in bed"),
    T(SH, "herbal viagra capsules {qty}"),
    T(SH, "sildenafil {n}0mg tablets {qty}"),
    T(SH, "tadalafil tablets {n}0mg generic"),
    T(SH, "kamagra oral jelly {qty} sachets"),
    T(SH, "libido booster for women {n} capsules", "enhance arousal and desire"),
    T(SH, "penis enlargement cream {ml}"),
    T(SH, "horny goat weed extract libido enhancer {n} capsules"),
    T(SH, "testosterone booster sex drive {n} capsules", "boost libido and performance"),
    T(SH, "yohimbine hcl {n}mg capsules"),
    T(SH, "dapoxetine premature ejaculation tablets"),
    T(SH, "aphrodisiac honey for men {qty} sachets", "royal honey for sexual vitality"),
    T(SH, "{zh_adj} 壮阳药 男性 {n}粒"),
    T(SH, "男用延时喷剂 {ml} 持久不射"),
    T(SH, "增大膏 男士 {zh_adj}"),
    T(SH, "女用春药 催情 {zh_adj}"),
    T(SH, "potenzmittel für männer {n} kapseln"),
    T(SH, "pastillas para la erección {n} cápsulas"),
    # ------------------------------------------------------------- hazardous_chemical
    T(HC, "weed killer concentrate {ml} kills roots", "herbicide for driveways"),
    T(HC, "glyphosate herbicide {n} liter"),
    T(HC, "insecticide spray {ml} kills cockroaches and ants"),
    T(HC, "rat poison bait blocks {qty}", "rodenticide"),
    T(HC, "organophosphate pesticide {n}L agricultural"),
    T(HC, "fungicide powder {n}kg for crops"),
    T(HC, "{zh_adj} 农药 杀虫剂 {n}公斤"),
    T(HC, "除草剂 {n}升 {zh_adj}"),
    T(HC, "剧毒 化学品 {zh_adj} 工业级"),
    T(HC, "industrial grade flammable solvent {n} liter drum", "highly flammable liquid, UN hazardous goods"),
    T(HC, "toxic chemical reagent {n}kg industrial grade", "danger: toxic if swallowed"),
    T(HC, "corrosive acid {n}L tech grade"),
    T(HC, "Unkrautvernichter Konzentrat {ml}"),
    T(HC, "Insektenvernichtungsmittel {ml} Spray"),
    T(HC, "herbicida {n} litros concentrado"),
    # ------------------------------------------------------------- medical_device
    T(MD, "blood glucose meter kit with {n} test strips"),
    T(MD, "infrared forehead thermometer {color} clinical"),
    T(MD, "digital hearing aid rechargeable {color}"),
    T(MD, "pulse oximeter fingertip {color}"),
    T(MD, "silicone gel breast implant {n}00cc"),
    T(MD, "orthopedic bone plate titanium {qty}"),
    T(MD, "dental implant kit titanium"),
    T(MD, "surgical suture absorbable {qty}"),
    T(MD, "blood pressure monitor upper arm {color}"),
    T(MD, "disposable syringe {ml} sterile {qty}"),
    T(MD, "cardiac pacemaker lead"),
    T(MD, "latex condoms {qty} ultra thin"),
    T(MD, "{zh_adj} 血糖仪 家用 试纸{n}片"),
    T(MD, "助听器 老人 {zh_adj}"),
    T(MD, "额温枪 红外 体温计 {zh_adj}"),
    T(MD, "血氧仪 指夹式 {zh_adj}"),
    T(MD, "Blutzuckermessgerät Set {n} Teststreifen"),
    T(MD, "Hörgerät wiederaufladbar {de_color}"),
    T(MD, "tensiómetro digital de brazo"),
    # ------------------------------------------------------------- epidemic_prevention
    T(EP, "virus shut out disinfection card {qty}", "blocks virus and bacteria around you"),
    T(EP, "air sterilization card anti-virus {qty} wearable"),
    T(EP, "body bag cadaver bag {color} heavy duty {qty}"),
    T(EP, "human remains pouch zippered {qty}"),
    T(EP, "vaccine card holder and blank vaccination certificate"),
    T(EP, "covid 19 vaccination record card {qty}"),
    T(EP, "covid antigen rapid test kit {qty}", "self test for coronavirus"),
    T(EP, "virus test kit nasal swab {qty}"),
    T(EP, "antiviral spray kills 99.9% of viruses {ml}", "prevents infection and flu"),
    T(EP, "virus killer air purifier card"),
    T(EP, "{zh_adj} 消毒卡 防疫 随身"),
    T(EP, "尸袋 {zh_adj} 加厚"),
    T(EP, "新冠 抗原检测试剂盒 {n}人份"),
    T(EP, "病毒检测 试剂 {zh_adj}"),
    T(EP, "疫苗接种证 卡套 空白"),
    T(EP, "杀菌 抗病毒 喷雾 {zh_adj}"),
    T(EP, "Corona Schnelltest {qty} Antigen"),
    T(EP, "Leichensack {de_color} {qty}"),
    T(EP, "prueba rápida de antígeno covid {qty}"),
    # ------------------------------------------------------------- live_animals_plants
    T(LP, "live {plant} plant in {n} inch pot", "ships live and rooted"),
    T(LP, "{plant} live houseplant {qty}"),
    T(LP, "bonsai tree live {plant} starter"),
    T(LP, "{veg} seeds for planting {n}00 seeds", "heirloom, high germination"),
    T(LP, "{veg} seed packet garden planting non-gmo"),
    T(LP, "live {animal} for sale {qty}"),
    T(LP, "baby {animal} live pet"),
    T(LP, "live fishing bait worms {qty}"),
    T(LP, "live coral frag reef aquarium"),
    T(LP, "{zh_adj} 多肉植物 活体 盆栽"),
    T(LP, "蔬菜种子 {n}粒 阳台 播种"),
    T(LP, "活体 宠物 {zh_adj} 小仓鼠"),
    T(LP, "观赏鱼 活体 {zh_adj}"),
    T(LP, "Zimmerpflanze lebend {plant} im Topf"),
    T(LP, "Saatgut {veg} zum Aussäen"),
    T(LP, "semillas de {veg} para sembrar {n}00 semillas"),
    T(LP, "planta viva {plant} en maceta"),
    # ------------------------------------------------------------- none: hard negatives (policy.md look-alikes)
    T(NONE, "{inch} inch chef knife stainless steel kitchen {color}", "for vegetables and meat"),
    T(NONE, "kitchen knife set {n} pieces with block {color}"),
    T(NONE, "fruit knife paring knife {color} {qty}"),
    T(NONE, "utility knife box cutter retractable {qty}"),
    T(NONE, "swiss army pocket knife multi tool {color}"),
    T(NONE, "bread knife serrated {inch} inch"),
    T(NONE, "knife sharpener {n} stage kitchen"),
    T(NONE, "pizza cutter wheel stainless {color}"),
    T(NONE, "scalpel handle and blades for crafts {qty}"),
    T(NONE, "rigging bow shackle galvanized {qty}"),
    T(NONE, "steering knuckle for car front left"),
    T(NONE, "cufflinks {color} men's wedding {qty}"),
    T(NONE, "dartboard set with {n} darts"),
    T(NONE, "personal safety alarm keychain {color} 130db"),
    T(NONE, "led flashlight rechargeable {color} {n}00 lumens"),
    T(NONE, "slingshot for kids outdoor {color}"),
    T(NONE, "perfume atomizer travel spray bottle {ml}"),
    T(NONE, "ultrasonic humidifier {ml} {color} cool mist"),
    T(NONE, "essential oil aroma diffuser {ml} {color}"),
    T(NONE, "coffee pods compatible {qty} {flavor}"),
    T(NONE, "ink cartridge replacement {color} {qty}"),
    T(NONE, "windproof lighter {color} refillable"),
    T(NONE, "nicotine patch {n} mg step {n} {qty}"),
    T(NONE, "propylene glycol USP {n} kg drum"),
    T(NONE, "vegetable glycerin food grade {n} liter"),
    T(NONE, "water based lubricant {ml} personal"),
    T(NONE, "pregnancy test strips {qty}"),
    T(NONE, "multivitamin for men {n} tablets daily"),
    T(NONE, "book: the viagra diaries paperback"),
    T(NONE, "artificial {plant} fake plant {n} cm"),
    T(NONE, "ceramic plant pot {n} inch with drainage {color}"),
    T(NONE, "roasted sunflower seeds snack {n}00g"),
    T(NONE, "chia seeds organic {n}00g food"),
    T(NONE, "seed beads for jewelry making {color} {qty}"),
    T(NONE, "dog food {n} kg chicken"),
    T(NONE, "fish tank aquarium {n} gallon {color}"),
    T(NONE, "crossbody bag {color} leather women"),
    T(NONE, "sleeping bag {color} camping"),
    T(NONE, "meat thermometer instant read kitchen {color}"),
    T(NONE, "bluetooth earbuds {color} noise cancelling"),
    T(NONE, "fitness tracker watch {color} heart rate"),
    T(NONE, "molecule model kit chemistry students"),
    T(NONE, "benzene ring necklace {color} pendant"),
    T(NONE, "acetone-free nail polish remover {ml}"),
    T(NONE, "dish soap lemon {ml}"),
    T(NONE, "disposable face mask {qty} {color} fashion"),
    T(NONE, "nitrile gloves {qty} {color}"),
    T(NONE, "plush handcuffs costume party {color}"),
    T(NONE, "nerf gun blaster kids {color}"),
    T(NONE, "water gun summer toy {color}"),
    T(NONE, "{zh_adj} 水果刀 {zh_color} 厨房"),
    T(NONE, "菜刀 家用 {zh_adj}"),
    T(NONE, "卸扣 {zh_adj} 起重"),
    T(NONE, "加湿器 家用 静音 {zh_color}"),
    T(NONE, "香薰机 {zh_adj} 精油"),
    T(NONE, "电子烟花 {zh_adj} 婚庆"),
    T(NONE, "电子烟灰缸 {zh_adj}"),
    T(NONE, "油烟油污清洁剂 厨房 {zh_adj}"),
    T(NONE, "仿真植物 绿植 {zh_adj}"),
    T(NONE, "瓜子 炒货 {zh_adj}"),
    T(NONE, "Küchenmesser Set {n} teilig {de_color}"),
    T(NONE, "Luftbefeuchter {de_color} leise"),
    T(NONE, "Duftöl Diffuser {ml}"),
    T(NONE, "Kunstpflanze {plant} {de_color} Topf"),
    # ------------------------------------------------------------- none: general benign (many languages)
    T(NONE, "{adj} {item} {color}"),
    T(NONE, "{item} {qty} {color} gift", "great quality, fast shipping"),
    T(NONE, "{food} {n}00g organic"),
    T(NONE, "{de_food} {n}00 g"),
    T(NONE, "{de_food} Bio {n} Stück"),
    T(NONE, "{de_item} {de_color} {n} Stück"),
    T(NONE, "{de_item} für Zuhause {de_color}", "hochwertige Qualität, schneller Versand"),
    T(NONE, "{zh_adj} {zh_item} {zh_color}"),
    T(NONE, "{zh_item} {zh_adj} 家用"),
    T(NONE, "{es_item} {es_color} {n} piezas"),
    T(NONE, "{item} {color}", "", "Home & Garden > Home Decor"),
    T(NONE, "{food} {n} pack", "", "Food & Beverage > Snacks"),
]


def _fill(text: str, rng: random.Random) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: rng.choice(SLOTS[m.group(1)]), text)


@dataclass(frozen=True)
class AuthoredRow:
    title: str
    description: str
    category: str
    label: str
    template: int


def generate(seed: int = 20261123, per_template: int = PER_TEMPLATE) -> list[AuthoredRow]:
    """Deterministic: the same seed gives the same rows in the same order."""
    rng = random.Random(seed)
    out: list[AuthoredRow] = []
    for i, t in enumerate(TEMPLATES):
        seen: set[str] = set()
        for _ in range(per_template * 3):
            title = _fill(t.title, rng)
            if title in seen:
                continue
            seen.add(title)
            out.append(AuthoredRow(title, _fill(t.description, rng) if t.description else "", t.category,
                                   t.label, i))
            if len(seen) >= per_template:
                break
    return out


def main() -> None:
    w = csv.writer(sys.stdout)
    w.writerow(["title", "category", "description", "label", "template", "file"])
    for r in generate():
        w.writerow([r.title, r.category, r.description, r.label, r.template, "authored"])


if __name__ == "__main__":
    main()
