"""How ImageNet class names from a local classifier (NASNet, a Keras application, an ONNX
model) become photo-library keywords.

ImageNet has 1000 fine-grained classes (118 of them dog breeds) whose names a person would not
type as a keyword ("tabby, tabby cat", "beach wagon, station wagon"). The table below maps the
classes a photo library commonly hits to plain keywords, with

- `threshold`: the minimum probability (0..1) for that keyword; classes the model confuses
  easily on ordinary photos (e.g. "volcano" for any mountain) need more evidence;
- `priority`: PhotoPrism's -3..5 scale; a keyword that describes what a photo is about (an
  animal, a vehicle) ranks above background context, and unreliable ones rank below 0;
- `categories`: broader keywords the label belongs to ("cat" -> animal, pet), for consumers
  that build hierarchies.

Classes not in the table keep their first comma-separated ImageNet synonym and the defaults.
Classes in `IGNORED` are never reported: they are screen/print artefacts or labels that are
almost always wrong on personal photos.

The table is our own (PhotoPrism ships a similar one; none of its text is copied).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_PRIORITY = -3
MAX_PRIORITY = 5


@dataclass(frozen=True)
class LabelRule:
    """The keyword a group of ImageNet classes maps to, and how it is reported."""

    name: str
    classes: tuple[str, ...]
    threshold: float = 0.0  # 0..1; 0 = only the global threshold applies
    priority: int = 0
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"priority of {self.name!r} out of range: {self.priority}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold of {self.name!r} out of range: {self.threshold}")


def _r(
    name: str,
    classes: str,
    *,
    threshold: float = 0.0,
    priority: int = 0,
    categories: str = "",
) -> LabelRule:
    # Classes are given as one "|"-separated string to keep the table readable; several
    # ImageNet names contain commas and spaces, but none contains "|".
    return LabelRule(
        name=name,
        classes=tuple(c.strip() for c in classes.split("|") if c.strip()),
        threshold=threshold,
        priority=priority,
        categories=tuple(c.strip() for c in categories.split(",") if c.strip()),
    )


# fmt: off
RULES: tuple[LabelRule, ...] = (
    # Pets and other animals people photograph most.
    _r("cat", "tabby|tiger cat|Persian cat|Siamese cat|Egyptian cat", priority=5,
       categories="animal, pet"),
    _r("dog", "golden retriever|Labrador retriever|German shepherd|beagle|pug|Chihuahua|"
       "Border collie|collie|Siberian husky|Eskimo dog|malamute|Pomeranian|toy poodle|"
       "miniature poodle|standard poodle|French bulldog|boxer|dalmatian|Yorkshire terrier|"
       "cocker spaniel|English springer|Shih-Tzu|Maltese dog|Great Dane|Rottweiler|Doberman|"
       "Pembroke|Cardigan|Samoyed|Bernese mountain dog|basset|bloodhound|whippet|"
       "Italian greyhound|Afghan hound|Saint Bernard|Newfoundland|Great Pyrenees|chow|"
       "Shetland sheepdog|Old English sheepdog|West Highland white terrier|Jack Russell terrier|"
       "Staffordshire bullterrier|American Staffordshire terrier|Weimaraner|vizsla|"
       "Rhodesian ridgeback|papillon|Pekinese|Lhasa|bull mastiff|Tibetan mastiff|keeshond|"
       "miniature schnauzer|standard schnauzer|giant schnauzer|Airedale|Scotch terrier|"
       "flat-coated retriever|curly-coated retriever|Chesapeake Bay retriever|"
       "German short-haired pointer|Irish setter|English setter|Gordon setter|Brittany spaniel|"
       "Blenheim spaniel|cairn|Border terrier|Norfolk terrier|Norwich terrier|Leonberg|"
       "Australian terrier|Bedlington terrier|Kerry blue terrier|Irish terrier|"
       "Appenzeller|EntleBucher|Greater Swiss Mountain dog|kelpie|briard|komondor|"
       "Brabancon griffon|toy terrier|miniature pinscher|affenpinscher|basenji|Mexican hairless|"
       "Tibetan terrier|Boston bull|Scottish deerhound|borzoi|Irish wolfhound",
       priority=5, categories="animal, pet"),
    _r("wolf", "timber wolf|white wolf|red wolf|coyote", priority=3, categories="animal, wildlife"),
    _r("fox", "red fox|grey fox|Arctic fox|kit fox", priority=3, categories="animal, wildlife"),
    _r("big cat", "lion|tiger|leopard|cheetah|snow leopard|jaguar|cougar|lynx", priority=4,
       categories="animal, wildlife"),
    _r("bear", "brown bear|American black bear|ice bear|sloth bear", priority=4,
       categories="animal, wildlife"),
    _r("panda", "giant panda|lesser panda", priority=4, categories="animal, wildlife"),
    _r("horse", "sorrel", priority=4, categories="animal"),
    _r("zebra", "zebra", priority=4, categories="animal, wildlife"),
    _r("elephant", "African elephant|Indian elephant|tusker", priority=4,
       categories="animal, wildlife"),
    _r("cattle", "ox|water buffalo|bison", priority=3, categories="animal, farm"),
    _r("sheep", "ram|bighorn", priority=3, categories="animal, farm"),
    _r("goat", "ibex", priority=2, categories="animal"),
    _r("antelope", "hartebeest|impala|gazelle", priority=3, categories="animal, wildlife"),
    _r("camel", "Arabian camel", priority=3, categories="animal"),
    _r("llama", "llama", priority=3, categories="animal"),
    _r("pig", "hog|wild boar|warthog", priority=3, categories="animal, farm"),
    _r("rabbit", "wood rabbit|hare|Angora", priority=4, categories="animal, pet"),
    _r("rodent", "hamster|guinea pig|fox squirrel|marmot|beaver|porcupine", priority=2,
       categories="animal"),
    _r("monkey", "baboon|macaque|capuchin|squirrel monkey|spider monkey|howler monkey|"
       "proboscis monkey|langur|guenon|patas|titi|marmoset|colobus", priority=3,
       categories="animal, wildlife"),
    _r("ape", "orangutan|gorilla|chimpanzee|gibbon|siamang", priority=4,
       categories="animal, wildlife"),
    _r("kangaroo", "wallaby", priority=3, categories="animal, wildlife"),
    _r("koala", "koala", priority=4, categories="animal, wildlife"),
    _r("seal", "sea lion|dugong", priority=3, categories="animal, water"),
    _r("whale", "killer whale|grey whale", priority=4, categories="animal, water"),
    _r("fish", "goldfish|tench|rock beauty|clownfish|anemone fish|lionfish|puffer|sturgeon|"
       "gar|coho|barracouta|eel", priority=2, categories="animal, water"),
    _r("shark", "great white shark|tiger shark|hammerhead", priority=3,
       categories="animal, water"),
    _r("ray", "stingray|electric ray", priority=2, categories="animal, water"),
    _r("jellyfish", "jellyfish", priority=2, categories="animal, water"),
    _r("coral", "brain coral|coral reef", priority=2, categories="water, nature"),
    _r("starfish", "starfish|sea urchin|sea cucumber|sea anemone", priority=1,
       categories="animal, water"),
    _r("crab", "Dungeness crab|king crab|rock crab|fiddler crab|hermit crab", priority=2,
       categories="animal, water"),
    _r("lobster", "American lobster|spiny lobster|crayfish", priority=2,
       categories="animal, water"),
    _r("turtle", "box turtle|loggerhead|leatherback turtle|mud turtle|terrapin", priority=3,
       categories="animal"),
    _r("lizard", "green lizard|common iguana|African chameleon|Komodo dragon|alligator lizard|"
       "agama|frilled lizard|whiptail|banded gecko|American chameleon", priority=3,
       categories="animal, reptile"),
    _r("crocodile", "American alligator|African crocodile", priority=3,
       categories="animal, reptile"),
    _r("snake", "thunder snake|ringneck snake|hognose snake|green snake|king snake|garter snake|"
       "water snake|vine snake|night snake|boa constrictor|rock python|Indian cobra|green mamba|"
       "sea snake|horned viper|diamondback|sidewinder", threshold=0.2, priority=2,
       categories="animal, reptile"),
    _r("frog", "bullfrog|tree frog|tailed frog", priority=2, categories="animal"),
    _r("butterfly", "monarch|admiral|ringlet|cabbage butterfly|sulphur butterfly|lycaenid",
       priority=3, categories="animal, insect"),
    _r("insect", "bee|ant|ladybug|dragonfly|damselfly|grasshopper|cricket|mantis|cockroach|fly|"
       "leaf beetle|dung beetle|rhinoceros beetle|weevil|walking stick|cicada|leafhopper|"
       "lacewing|ground beetle|long-horned beetle|tiger beetle", threshold=0.15, priority=1,
       categories="animal"),
    _r("spider", "garden spider|black widow|tarantula|wolf spider|barn spider|"
       "black and gold garden spider", threshold=0.2, priority=1, categories="animal"),
    _r("snail", "snail|slug", priority=1, categories="animal"),
    # Birds.
    _r("bird", "goldfinch|robin|jay|magpie|chickadee|house finch|junco|indigo bunting|bulbul|"
       "brambling|water ouzel|bee eater|hornbill|jacamar|coucal|ptarmigan|ruffed grouse|"
       "prairie chicken|quail|partridge|black grouse", priority=4, categories="animal"),
    _r("bird of prey", "bald eagle|kite|vulture|great grey owl", priority=4,
       categories="animal, bird"),
    _r("chicken", "hen|cock", priority=3, categories="animal, bird, farm"),
    _r("duck", "drake|red-breasted merganser", priority=3, categories="animal, bird, water"),
    _r("goose", "goose", priority=3, categories="animal, bird, water"),
    _r("swan", "black swan", priority=3, categories="animal, bird, water"),
    _r("water bird", "pelican|flamingo|white stork|black stork|little blue heron|American egret|"
       "bittern|spoonbill|albatross|oystercatcher|redshank|dowitcher|red-backed sandpiper|"
       "ruddy turnstone|limpkin|European gallinule|American coot|bustard", priority=3,
       categories="animal, bird"),
    _r("penguin", "king penguin", priority=4, categories="animal, bird"),
    _r("parrot", "macaw|lorikeet|sulphur-crested cockatoo|African grey", priority=4,
       categories="animal, bird"),
    _r("peacock", "peacock", priority=4, categories="animal, bird"),
    _r("ostrich", "ostrich", priority=3, categories="animal, bird"),
    _r("hummingbird", "hummingbird|toucan", priority=3, categories="animal, bird"),
    # Vehicles.
    _r("car", "sports car|convertible|cab|minivan|jeep|limousine|racer|beach wagon|Model T|"
       "car wheel|grille|police van", priority=3, categories="vehicle"),
    _r("truck", "pickup|moving van|trailer truck|tow truck|garbage truck|fire engine|"
       "tractor|forklift", priority=3, categories="vehicle"),
    _r("ambulance", "ambulance", priority=3, categories="vehicle"),
    _r("camper", "recreational vehicle|mobile home", priority=3, categories="vehicle"),
    _r("bus", "school bus|trolleybus|minibus", priority=3, categories="vehicle"),
    _r("train", "passenger car|electric locomotive|steam locomotive|freight car|bullet train|"
       "streetcar", priority=3, categories="vehicle"),
    _r("bicycle", "mountain bike|bicycle-built-for-two|tricycle|unicycle", priority=3,
       categories="vehicle"),
    _r("motorcycle", "moped|motor scooter", priority=3, categories="vehicle"),
    _r("airplane", "airliner|warplane|wing", priority=3, categories="vehicle, aircraft"),
    _r("airship", "airship|balloon", threshold=0.2, priority=2, categories="aircraft"),
    _r("boat", "speedboat|canoe|yawl|catamaran|trimaran|schooner|fireboat|lifeboat|gondola|"
       "paddle|paddlewheel", priority=3, categories="vehicle, water"),
    _r("ship", "container ship|liner|pirate|aircraft carrier|wreck|submarine", priority=3,
       categories="vehicle, water"),
    _r("farm machinery", "harvester|thresher|plow", priority=2, categories="vehicle, farm"),
    _r("snowmobile", "snowmobile|dogsled", priority=2, categories="vehicle, snow"),
    # Landscapes and places.
    _r("mountain", "alp", priority=2, categories="landscape, nature"),
    _r("volcano", "volcano", threshold=0.5, priority=-1, categories="landscape, nature"),
    _r("cliff", "cliff|promontory", threshold=0.2, priority=1, categories="landscape, nature"),
    _r("beach", "seashore|sandbar", threshold=0.15, priority=2, categories="landscape, water"),
    _r("lake", "lakeside", threshold=0.15, priority=2, categories="landscape, water"),
    _r("valley", "valley", threshold=0.2, priority=1, categories="landscape, nature"),
    _r("geyser", "geyser", threshold=0.3, priority=1, categories="landscape, nature"),
    _r("waterfall", "dam", threshold=0.3, priority=1, categories="landscape, water"),
    _r("bridge", "suspension bridge|steel arch bridge|viaduct", priority=2,
       categories="architecture"),
    _r("pier", "pier|dock|boathouse", threshold=0.15, priority=1, categories="water"),
    _r("lighthouse", "beacon", priority=3, categories="architecture, water"),
    _r("castle", "castle|palace", priority=3, categories="architecture, building"),
    _r("church", "church|monastery|bell cote|dome|mosque|stupa|altar", priority=3,
       categories="architecture, building"),
    _r("monument", "triumphal arch|obelisk|megalith|totem pole", priority=2,
       categories="architecture"),
    _r("farm", "barn|greenhouse|hay|worm fence", threshold=0.15, priority=1,
       categories="building"),
    _r("shop", "grocery store|toyshop|shoe shop|bookshop|butcher shop|confectionery|"
       "tobacco shop|barbershop|bakery|restaurant", threshold=0.2, priority=1,
       categories="building"),
    _r("fountain", "fountain", priority=2, categories="architecture"),
    _r("garden", "patio|picket fence|stone wall|lawn mower|pot", threshold=0.2, priority=0),
    _r("tent", "mountain tent|yurt|sleeping bag", priority=2, categories="outdoor"),
    # Plants and food.
    _r("flower", "daisy|yellow lady's slipper|rapeseed", priority=3, categories="plant, nature"),
    _r("mushroom", "mushroom|agaric|bolete|coral fungus|gyromitra|stinkhorn|earthstar|"
       "hen-of-the-woods", priority=2, categories="plant, nature"),
    _r("fruit", "Granny Smith|strawberry|orange|lemon|fig|pineapple|banana|jackfruit|"
       "custard apple|pomegranate", priority=2, categories="food"),
    _r("vegetable", "head cabbage|broccoli|cauliflower|zucchini|spaghetti squash|acorn squash|"
       "butternut squash|cucumber|artichoke|bell pepper|cardoon|corn|ear", priority=2,
       categories="food"),
    _r("pizza", "pizza", priority=3, categories="food"),
    _r("burger", "cheeseburger|hotdog", priority=3, categories="food"),
    _r("bread", "French loaf|bagel|pretzel", priority=2, categories="food"),
    _r("dessert", "ice cream|ice lolly|trifle|chocolate sauce", priority=2, categories="food"),
    _r("meal", "burrito|guacamole|carbonara|potpie|meat loaf|consomme|hot pot|mashed potato|"
       "plate", threshold=0.15, priority=2, categories="food"),
    _r("coffee", "espresso|coffee mug|cup", priority=1, categories="food, drink"),
    _r("wine", "red wine|wine bottle", priority=1, categories="drink"),
    _r("beer", "beer bottle|beer glass", priority=1, categories="drink"),
    # People, sport and leisure (ImageNet has no "person" class; these imply one).
    _r("wedding", "groom|gown|veil", threshold=0.2, priority=3, categories="people, event"),
    _r("diving", "scuba diver|snorkel", priority=2, categories="people, sport, water"),
    _r("swimwear", "swimming trunks|bikini|maillot", threshold=0.2, priority=1,
       categories="people"),
    _r("ball", "soccer ball|basketball|volleyball|tennis ball|golf ball|rugby ball|"
       "croquet ball|ping-pong ball|baseball", priority=1, categories="sport"),
    _r("skiing", "ski|ski mask|bobsled", priority=2, categories="sport, snow"),
    _r("toy", "teddy|jigsaw puzzle|pinwheel|piggy bank", threshold=0.2, priority=0),
    _r("christmas", "Christmas stocking", threshold=0.2, priority=2, categories="event"),
    _r("halloween", "jack-o'-lantern", threshold=0.2, priority=2, categories="event"),
    _r("computer", "laptop|notebook|desktop computer|monitor|screen|computer keyboard|mouse",
       threshold=0.2, priority=0, categories="electronics"),
    _r("phone", "cellular telephone|dial telephone|pay-phone", threshold=0.2, priority=0,
       categories="electronics"),
    _r("television", "television|home theater|entertainment center", threshold=0.2, priority=0,
       categories="electronics"),
    _r("clock", "analog clock|wall clock|digital clock", threshold=0.2, priority=0),
    _r("bed", "four-poster|quilt|pillow|crib", threshold=0.2, priority=0, categories="interior"),
    _r("sofa", "studio couch", threshold=0.2, priority=0, categories="interior"),
    _r("table", "dining table|desk", threshold=0.2, priority=0, categories="interior"),
    _r("bench", "park bench", threshold=0.2, priority=0),
    _r("umbrella", "umbrella|parasol", threshold=0.2, priority=0),
    _r("sunglasses", "sunglasses|sunglass", threshold=0.2, priority=-1),
    _r("candle", "candle", threshold=0.2, priority=0),
    _r("bookcase", "bookcase|library", threshold=0.2, priority=0, categories="interior"),
    _r("fireworks", "fireworks", threshold=0.2, priority=2, categories="event"),
)

# Screen, print and texture classes: on personal photos these are nearly always a screenshot,
# a scan or a misfire, and as keywords they help nobody search. "background" is the extra class
# 0 that NASNet's 1001-way output carries.
IGNORED: frozenset[str] = frozenset(
    name.lower()
    for name in (
        "background", "web site", "book jacket", "comic book", "crossword puzzle", "envelope",
        "menu", "packet", "carton", "matchstick", "nematode", "theater curtain", "window screen",
        "doormat", "handkerchief", "bib", "chain mail", "velvet", "wool", "honeycomb",
        "jersey", "sweatshirt", "abaya", "lab coat", "apron", "stole", "poncho",
        "rule", "slide rule", "binder", "paper towel", "toilet tissue", "shower curtain",
        "mosquito net", "chain", "spider web", "tray", "digital watch", "band aid",
    )
)
# fmt: on


def first_synonym(imagenet_name: str) -> str:
    """The first comma-separated synonym of an ImageNet class, without a WordNet id prefix.

    labels.txt files come as "tabby, tabby cat", "n02123045 tabby, tabby cat" or plain "tabby".
    """
    name = re.sub(r"^n\d{8}\s+", "", imagenet_name.strip())
    return name.split(",", 1)[0].strip()


def _index(rules: tuple[LabelRule, ...]) -> dict[str, LabelRule]:
    index: dict[str, LabelRule] = {}
    for rule in rules:
        for cls in rule.classes:
            if cls in index:
                raise ValueError(f"ImageNet class {cls!r} is mapped twice")
            index[cls] = rule
    return index


# Keyed by the first synonym as ImageNet spells it. Built at import so a duplicate in the table
# fails fast. Case matters for one pair: "Cardigan" is a corgi, "cardigan" a sweater.
RULES_BY_CLASS: dict[str, LabelRule] = _index(RULES)
# For labels.txt files written in lowercase.
_RULES_BY_LOWER: dict[str, LabelRule] = {k.lower(): v for k, v in RULES_BY_CLASS.items()}
_IGNORED_EXACT: frozenset[str] = frozenset({"cardigan"})


def rule_for(imagenet_name: str) -> LabelRule | None:
    """The rule for an ImageNet class, None if it is to be ignored.

    Unknown classes get an ad-hoc rule named after their first synonym (lowercase, as every
    keyword in the table is) with the defaults.
    """
    synonym = first_synonym(imagenet_name)
    key = synonym.lower()
    if not key or key in IGNORED or synonym in _IGNORED_EXACT:
        return None
    rule = RULES_BY_CLASS.get(synonym) or _RULES_BY_LOWER.get(key)
    if rule is not None:
        return rule
    return LabelRule(name=key, classes=(synonym,))


def _categories_by_keyword(rules: tuple[LabelRule, ...]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for rule in rules:
        if rule.categories:
            found.setdefault(rule.name.lower(), tuple(c.title() for c in rule.categories))
    return found


_CATEGORIES: dict[str, tuple[str, ...]] = _categories_by_keyword(RULES)


def categories_for(keyword: str) -> tuple[str, ...]:
    """The categories of the table's keyword of that name ("Cat" -> Animal, Pet), so that a
    vision model's "Cat" nests where the classifier's does; () for any other keyword."""
    return _CATEGORIES.get(keyword.strip().lower(), ())
