"""Word pools the catalog generator draws names from.

Kept apart from the generator so the generator reads as rules, not lists. Every pool is a tuple
(immutable); the generator picks from them with its own seeded random number generators.

Some pools must stay disjoint for names to be unique by construction (see ``catalog.py``): the
adjectives and nouns of band names never double as the first names and surnames of solo artists,
and guests (featured artists, support acts) draw from their own surnames so a guest never shares a
name with a catalog artist. ``tests/sim/test_catalog.py`` checks it.
"""

from __future__ import annotations

from typing import NamedTuple

ADJECTIVES: tuple[str, ...] = (
    "Velvet", "Crimson", "Hollow", "Silver", "Electric", "Paper", "Neon", "Quiet", "Golden",
    "Broken", "Wild", "Lunar", "Northern", "Southern", "Midnight", "Copper", "Glass", "Iron",
    "Scarlet", "Distant", "Static", "Cosmic", "Feral", "Gentle", "Restless", "Burning",
    "Frozen", "Hidden", "Lonely", "Marble", "Misty", "Painted", "Pale", "Radiant", "Rusty",
    "Savage", "Secret", "Shallow", "Silent", "Sonic", "Stormy", "Sunken", "Tender", "Violet",
    "Wandering", "Wicked", "Ancient", "Bitter", "Blue", "Bright", "Cardinal", "Crystal", "Dusty",
    "Emerald", "Faded", "Gilded", "Grand", "Heavy", "Indigo", "Ivory", "Jaded", "Kinetic",
    "Liquid", "Lost", "Lucky", "Magnetic", "Mellow", "Modern", "Mystic", "Noble", "Obsidian",
    "Pacific", "Phantom", "Plastic", "Polar", "Primal", "Rapid", "Royal", "Saffron", "Sapphire",
    "Shining", "Slow", "Solar", "Stellar", "Sugar", "Swift", "Tidal", "Urban", "Vivid", "Wooden",
    "Atomic", "Black", "Hazy", "Sleepy", "Analog", "Careless", "Desert", "Endless", "Fallen",
    "Hungry", "Infinite",
)  # fmt: skip

NOUNS: tuple[str, ...] = (
    "Meridian", "Lantern", "Harbor", "Orchard", "Signal", "Canyon", "Comet", "Engine", "Falcon",
    "Garden", "Horizon", "Island", "Lagoon", "Machine", "Mirror", "Monarch", "Nomad", "Ocean",
    "Parade", "Pilot", "Prism", "Raven", "River", "Rocket", "Saint", "Shadow", "Sparrow",
    "Spirit", "Summit", "Temple", "Tower", "Valley", "Voyager", "Wave", "Window", "Anchor",
    "Arrow", "Beacon", "Cathedral", "Cloud", "Diamond", "Dragon", "Ember", "Feather", "Flower",
    "Ghost", "Giant", "Glacier", "Hunter", "Jewel", "Knight", "Lion", "Magnet", "Meadow", "Moon",
    "Needle", "Oracle", "Owl", "Panther", "Pearl", "Planet", "Pyramid", "Rebel", "Ribbon",
    "Robot", "Sailor", "Satellite", "Serpent", "Siren", "Star", "Storm", "Stranger", "Tiger",
    "Traveler", "Tulip", "Viper", "Wanderer", "Whale", "Wizard", "Arcade", "Bandit", "Cobra",
    "Coyote", "Drifter", "Gambler", "Lighthouse", "Mountain", "Outlaw", "Painter", "Pilgrim",
    "Rider", "Runner", "Ranger", "Shepherd", "Soldier", "Ticket", "Tunnel", "Vandal", "Wheel",
    "Dancer", "Dreamer",
)  # fmt: skip

# Solo artists ("Ada Sorrel"); disjoint from ADJECTIVES and NOUNS.
FIRST_NAMES: tuple[str, ...] = (
    "Ada", "Zoë", "José", "Björn", "Amélie", "Søren", "Chloé", "Inés", "Renée", "Marcus",
    "Nina", "Oskar", "Priya", "Ravi", "Selma", "Theo", "Uma", "Vera", "Wes", "Yara", "Aiden",
    "Bea", "Cleo", "Dario", "Elif", "Finn", "Greta", "Hugo", "Iris", "Jonah", "Kaia", "Leon",
    "Mila", "Noor", "Otto", "Paloma", "Quinn", "Rosa", "Silas", "Tova", "Ulla", "Viktor",
    "Willa", "Xavi", "Yusuf", "Zara", "Anouk", "Bruno", "Celeste", "Dmitri", "Esmé", "Frida",
    "Gael", "Hana", "Ivo", "Juno", "Kofi", "Lior", "Maren", "Nico",
)  # fmt: skip

SURNAMES: tuple[str, ...] = (
    "Sorrel", "Lindqvist", "Okafor", "Marsh", "Delacroix", "Ferreira", "Halloran", "Ibsen",
    "Jansen", "Kowalski", "Larkin", "Moreau", "Nakamura", "Olsen", "Pereira", "Quist", "Rinaldi",
    "Sandoval", "Thorne", "Ueda", "Vance", "Whitlock", "Xiong", "Yilmaz", "Zeller", "Abernathy",
    "Brennan", "Castellano", "Dufresne", "Eriksen", "Fontaine", "Gallagher", "Holm", "Ivanova",
    "Jaramillo", "Kessler", "Lacroix", "Mbeki", "Novak", "Ortega", "Pacheco", "Rasmussen",
    "Sinclair", "Takahashi", "Ulrich", "Valdés", "Wexler", "Yoon", "Zamora", "Ångström",
    "Bøgh", "Çelik", "Dvořák", "Ebner", "Fischer", "Gómez", "Horvath", "Iglesias", "Jäger",
    "Kühn",
)  # fmt: skip

# Guests (featured artists, remixers, support acts): never catalog artists.
GUEST_SURNAMES: tuple[str, ...] = (
    "Ashdown", "Blackwood", "Carraway", "Dunmore", "Elsworth", "Fairweather", "Greyling",
    "Hartigan", "Ingleby", "Kettering", "Lowther", "Merriweather", "Northcott", "Oakhurst",
    "Pemberton", "Ravenscroft", "Stonebridge", "Thistlewood", "Underhill", "Wainwright",
)  # fmt: skip

GUEST_PREFIXES: tuple[str, ...] = ("DJ", "MC", "Lil", "Big", "Young", "Sister", "Brother")

# "Sigur Rós"-like names: two words, always with diacritics.
NORDIC: tuple[str, ...] = (
    "Sólheimar", "Ljós", "Hrafn", "Jökull", "Fjörður", "Dögun", "Bláfjall", "Myrkur", "Þögn",
    "Eldur", "Vindur", "Skógur", "Hafið", "Stjarna", "Ró", "Sæla", "Draumur", "Norður",
    "Tindur", "Álfur", "Glóð", "Hljóð", "Rökkur", "Kyrrð", "Brú", "Vötn",
)  # fmt: skip

# "Mötley"-like heavy-metal umlauts.
UMLAUT: tuple[str, ...] = (
    "Mötley", "Blüt", "Dränk", "Hëxen", "Rävën", "Sköll", "Wölf", "Krüx", "Spïnal", "Dëad",
    "Grïm", "Mëtal", "Nöise", "Qüeen", "Vöid", "Stëel",
)  # fmt: skip

# "AC/DC"-like: two two-letter blocks around a slash.
SLASH_LETTERS = "ACDKLMNPRSTVXZ"

DOPPELGANGER_SUFFIXES: tuple[str, ...] = (
    "Trio",
    "Tribute Band",
    "Revival",
    "Experience",
    "Collective",
    "Tribute Show",
)

GENRES: tuple[str, ...] = (
    "indie rock", "dream pop", "shoegaze", "post-rock", "synthpop", "alt country", "art pop",
    "garage rock", "hard rock", "heavy metal", "hip hop", "neo soul", "jazz trio", "folk",
    "electronica", "house", "punk", "britpop", "k-pop", "latin pop", "bossa nova", "grunge",
    "emo", "blues rock", "country rock",
)  # fmt: skip

# Ticketmaster genre (name, id) per genre family; ids invented, the Music segment id is real.
TM_MUSIC_SEGMENT = ("KZFzniwnSyZfZ7v7nJ", "Music")
TM_GENRES: tuple[tuple[str, str], ...] = (
    ("Rock", "KnvZfZ7vOXy"),
    ("Pop", "KnvZfZ7vOXA"),
    ("Alternative", "KnvZfZ7vOXv"),
    ("Hip-Hop/Rap", "KnvZfZ7vOXd"),
    ("Electronic", "KnvZfZ7vOXF"),
    ("Jazz", "KnvZfZ7vOXE"),
    ("Country", "KnvZfZ7vOXa"),
    ("Metal", "KnvZfZ7vOXe"),
    ("Folk", "KnvZfZ7vOXk"),
    ("R&B", "KnvZfZ7vOXJ"),
)

# Song titles: words that make titles, some with accents and punctuation.
TITLE_WORDS: tuple[str, ...] = (
    "Café", "Déjà Vu", "Naïve", "Façade", "Rosé", "Piñata", "Jalapeño", "Señorita", "Über",
    "Smörgåsbord", "Crème", "Fiancée", "Résumé", "Soirée", "Zoë's",
)  # fmt: skip

TITLE_VERBS: tuple[str, ...] = (
    "Falling", "Running", "Waiting", "Burning", "Dancing", "Drifting", "Chasing", "Fading",
    "Breaking", "Calling", "Dreaming", "Holding", "Leaving", "Sailing", "Singing", "Turning",
)  # fmt: skip

ALBUM_FORMS: tuple[str, ...] = (
    "{adj} {noun}",
    "{noun}s",
    "The {noun} Sessions",
    "{adj} {noun}s",
    "Songs from the {noun}",
    "{verb} {noun}s",
    "{noun} & {noun2}",
    "Chapter {n}",
)

COMPILATION_NAMES: tuple[str, ...] = (
    "Greatest Hits",
    "The Best of {artist}",
    "Essentials",
    "The Singles",
    "Gold",
    "Collected",
)

VARIOUS_COMPILATIONS: tuple[str, ...] = (
    "Summer Hits {year}",
    "Indie Essentials {year}",
    "Road Trip Anthems Vol. {n}",
    "Coastline Sampler Vol. {n}",
    "Chill Mornings {year}",
    "Festival Favourites {year}",
)

LABELS: tuple[str, ...] = (
    "Northbound Tide Records", "Harbor Light Music", "Glass House Recordings", "Saltmarsh",
    "Lantern Audio", "Copperline Records", "Quiet Engine", "Velvet Room Records",
    "Sub Arctic", "Kinetic Sound Co.",
)  # fmt: skip

TOUR_WORDS: tuple[str, ...] = (
    "World", "Homecoming", "Farewell", "Reunion", "Summer", "Winter", "North American",
    "European", "Anniversary", "Arena",
)  # fmt: skip

VENUE_WORDS: tuple[str, ...] = (
    "Riverside", "Foundry", "Harborview", "Copperline", "Northside", "Old Mill", "Granary",
    "Lantern", "Union", "Paramount", "Orpheum", "Crystal", "Roxy", "Majestic", "Fillmore",
    "Empire", "Electric", "Palladium", "Regent", "Liberty", "Échelle", "Löwen", "Señora",
    "Bowery", "Wharf",
)  # fmt: skip

VENUE_TYPES: tuple[str, ...] = (
    "Ballroom", "Hall", "Music Hall", "Theatre", "Arena", "Amphitheater", "Social", "Club",
    "Pavilion", "Room", "Opera House", "Lounge",
)  # fmt: skip

PROMOTERS: tuple[tuple[str, str], ...] = (
    ("7311", "HARBORLIGHT PRESENTS"),
    ("653", "LIVE NATION MUSIC"),
    ("494", "PROMOTED BY VENUE"),
    ("2061", "NORTHBOUND CONCERTS"),
)

STREETS: tuple[str, ...] = (
    "NW Foundry St", "S Mill Ln", "Harbor Way", "Main St", "Market St", "King St",
    "Queen St W", "Rue Sainte-Catherine", "Karl-Marx-Allee", "Camden High St",
)  # fmt: skip


class City(NamedTuple):
    """A real city with what Ticketmaster (venue) and setlist.fm (city) say about it."""

    name: str
    state: str | None
    state_code: str | None
    country_tm: str  # Ticketmaster's country name
    country_fm: str  # setlist.fm's country name
    country_code: str
    timezone: str
    latitude: float
    longitude: float
    geo_id: str  # setlist.fm city id (a GeoNames id)
    market: str
    market_id: str
    dma_id: int
    postal: str  # a postal code prefix


CITIES: tuple[City, ...] = (
    City("Portland", "Oregon", "OR", "United States Of America", "United States", "US",
         "America/Los_Angeles", 45.52345, -122.67621, "5746545", "Portland", "42", 351, "972"),
    City("Seattle", "Washington", "WA", "United States Of America", "United States", "US",
         "America/Los_Angeles", 47.60621, -122.33207, "5809844", "Seattle", "42", 385, "981"),
    City("San Francisco", "California", "CA", "United States Of America", "United States", "US",
         "America/Los_Angeles", 37.77493, -122.41942, "5391959", "N. California", "41", 382,
         "941"),
    City("Los Angeles", "California", "CA", "United States Of America", "United States", "US",
         "America/Los_Angeles", 34.05223, -118.24368, "5368361", "Los Angeles", "27", 324,
         "900"),
    City("Denver", "Colorado", "CO", "United States Of America", "United States", "US",
         "America/Denver", 39.73915, -104.9847, "5419384", "Denver", "6", 264, "802"),
    City("Boise", "Idaho", "ID", "United States Of America", "United States", "US",
         "America/Boise", 43.6135, -116.20345, "5586437", "Idaho", "52", 224, "837"),
    City("Salt Lake City", "Utah", "UT", "United States Of America", "United States", "US",
         "America/Denver", 40.76078, -111.89105, "5780993", "Utah", "45", 372, "841"),
    City("Chicago", "Illinois", "IL", "United States Of America", "United States", "US",
         "America/Chicago", 41.85003, -87.65005, "4887398", "Chicago", "3", 249, "606"),
    City("Minneapolis", "Minnesota", "MN", "United States Of America", "United States", "US",
         "America/Chicago", 44.97997, -93.26384, "5037649", "Minneapolis-St. Paul", "32", 336,
         "554"),
    City("Austin", "Texas", "TX", "United States Of America", "United States", "US",
         "America/Chicago", 30.26715, -97.74306, "4671654", "South Texas", "61", 222, "787"),
    City("Nashville", "Tennessee", "TN", "United States Of America", "United States", "US",
         "America/Chicago", 36.16589, -86.78444, "4644585", "Nashville", "34", 340, "372"),
    City("Atlanta", "Georgia", "GA", "United States Of America", "United States", "US",
         "America/New_York", 33.749, -84.38798, "4180439", "Atlanta", "10", 220, "303"),
    City("New York", "New York", "NY", "United States Of America", "United States", "US",
         "America/New_York", 40.71427, -74.00597, "5128581", "New York/Tri-State", "35", 345,
         "100"),
    City("Boston", "Massachusetts", "MA", "United States Of America", "United States", "US",
         "America/New_York", 42.35843, -71.05977, "4930956", "New England", "11", 235, "021"),
    City("Vancouver", "British Columbia", "BC", "Canada", "Canada", "CA", "America/Vancouver",
         49.24966, -123.11934, "6173331", "BC", "124", 528, "V6B"),
    City("Toronto", "Ontario", "ON", "Canada", "Canada", "CA", "America/Toronto", 43.70011,
         -79.4163, "6167865", "Toronto, Hamilton & Area", "102", 527, "M5V"),
    City("Montréal", "Quebec", "QC", "Canada", "Canada", "CA", "America/Toronto", 45.50884,
         -73.58781, "6077243", "Montréal & Area", "103", 526, "H2X"),
    City("Melbourne", "Victoria", "VIC", "Australia", "Australia", "AU", "Australia/Melbourne",
         -37.814, 144.96332, "2158177", "Victoria", "302", 703, "3000"),
    City("Sydney", "New South Wales", "NSW", "Australia", "Australia", "AU", "Australia/Sydney",
         -33.86785, 151.20732, "2147714", "New South Wales", "301", 701, "2000"),
    City("London", None, None, "Great Britain", "United Kingdom", "GB", "Europe/London",
         51.50853, -0.12574, "2643743", "London", "202", 602, "NW1"),
    City("Manchester", None, None, "Great Britain", "United Kingdom", "GB", "Europe/London",
         53.48095, -2.23743, "2643123", "North West", "205", 605, "M1"),
    City("Dublin", None, None, "Ireland", "Ireland", "IE", "Europe/Dublin", 53.33306, -6.24889,
         "2964574", "Ireland", "208", 608, "D01"),
    City("Berlin", None, None, "Germany", "Germany", "DE", "Europe/Berlin", 52.52437, 13.41053,
         "2950159", "Germany", "210", 610, "101"),
    City("Köln", None, None, "Germany", "Germany", "DE", "Europe/Berlin", 50.93333, 6.95,
         "2886242", "Germany", "210", 610, "506"),
    City("Paris", None, None, "France", "France", "FR", "Europe/Paris", 48.85341, 2.3488,
         "2988507", "France", "211", 611, "750"),
    City("Amsterdam", None, None, "Netherlands", "Netherlands", "NL", "Europe/Amsterdam",
         52.37403, 4.88969, "2759794", "Netherlands", "212", 612, "101"),
    City("Stockholm", None, None, "Sweden", "Sweden", "SE", "Europe/Stockholm", 59.32938,
         18.06871, "2673730", "Sweden", "213", 613, "111"),
    City("Reykjavík", None, None, "Iceland", "Iceland", "IS", "Atlantic/Reykjavik", 64.13548,
         -21.89541, "3413829", "Iceland", "214", 614, "101"),
    City("Tokyo", None, None, "Japan", "Japan", "JP", "Asia/Tokyo", 35.6895, 139.69171,
         "1850147", "Japan", "215", 615, "100"),
    City("São Paulo", None, None, "Brazil", "Brazil", "BR", "America/Sao_Paulo", -23.5475,
         -46.63611, "3448439", "Brazil", "216", 616, "010"),
    City("Zürich", None, None, "Switzerland", "Switzerland", "CH", "Europe/Zurich", 47.36667,
         8.55, "2657896", "Switzerland", "217", 617, "800"),
)  # fmt: skip

MARKETS: tuple[str, ...] = (
    "AR", "AU", "BR", "CA", "DE", "ES", "FR", "GB", "IE", "IT", "JP", "MX", "NL", "NZ", "SE",
    "US",
)  # fmt: skip
