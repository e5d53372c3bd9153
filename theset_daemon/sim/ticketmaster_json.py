"""Ticketmaster's HAL JSON for the simulated catalog: attraction, venue and event objects, with
the ``_links`` the API sends (relative hrefs, never the ``apikey``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from theset_daemon.sim import words
from theset_daemon.sim.names import slug
from theset_daemon.sim.people import ArtistProfile, Guest
from theset_daemon.sim.shows import Event, Venue, utc
from theset_daemon.sim.state import SimState

Json = dict[str, Any]
PREFIX = "/discovery/v2"
LOCALE = "en-us"


def _images(key: str) -> list[Json]:
    base = f"https://s1.ticketm.net/dam/a/{key[:3]}/{key[:4]}-{key[4:8]}"
    return [
        {"ratio": "16_9", "url": f"{base}_RETINA_PORTRAIT_16_9.jpg", "width": 640, "height": 360,
         "fallback": False},
        {"ratio": "3_2", "url": f"{base}_ARTIST_PAGE_3_2.jpg", "width": 305, "height": 203,
         "fallback": False},
        {"ratio": "4_3", "url": f"{base}_CUSTOM.jpg", "width": 305, "height": 225,
         "fallback": False},
    ]  # fmt: skip


def _classification(genre: tuple[str, str]) -> Json:
    segment_id, segment_name = words.TM_MUSIC_SEGMENT
    return {
        "primary": True,
        "segment": {"id": segment_id, "name": segment_name},
        "genre": {"id": genre[1], "name": genre[0]},
        "subGenre": {"id": "KZazBEonSMnZfZ7vZdH", "name": genre[0]},
        "type": {"id": "KZAyXgnZfZ7vgZ1", "name": "Undefined"},
        "subType": {"id": "KZFzBErXgnZfZ7vCgV", "name": "Undefined"},
        "family": False,
    }


def attraction_json(state: SimState, who: ArtistProfile | Guest) -> Json:
    ids = state.catalog.ids
    if isinstance(who, ArtistProfile):
        total = state.catalog.upcoming_shows(who.index)
        genre = who.tm_genre
        links: Json = {
            "homepage": [{"url": f"https://{slug(who.name).replace('-', '')}.example.com/"}],
            "musicbrainz": [{"id": who.mbid}],
        }
        aliases = [who.normalized] if who.normalized != who.name else []
        image_key = who.image_key or ids.hex_id("tm-image", who.index, length=12)
    else:
        total = sum(
            1
            for e in state.catalog.events(who.host)
            if any(g.number == who.number for g in e.supports)
        )
        genre, links, aliases = words.TM_GENRES[0], {}, []
        image_key = who.image_key
    url_number = ids.digits("attraction-url", who.ticketmaster_id, length=7)
    return {
        "name": who.name,
        "type": "attraction",
        "id": who.ticketmaster_id,
        "test": False,
        "url": f"https://www.ticketmaster.com/{slug(who.name)}-tickets/artist/{url_number}",
        "locale": LOCALE,
        "externalLinks": links,
        "aliases": aliases,
        "images": _images(image_key),
        "classifications": [_classification(genre)],
        "upcomingEvents": {"_total": total, "ticketmaster": total, "_filtered": 0},
        "_links": {"self": {"href": f"{PREFIX}/attractions/{who.ticketmaster_id}?locale={LOCALE}"}},
    }


def venue_json(venue: Venue) -> Json:
    city = venue.city
    body: Json = {
        "name": venue.name,
        "type": "venue",
        "id": venue.ticketmaster_id,
        "test": False,
        "url": (
            f"https://www.ticketmaster.com/{slug(venue.name)}-tickets-{slug(city.name)}"
            f"/venue/{venue.url_number}"
        ),
        "locale": LOCALE,
        "postalCode": venue.postal_code,
        "timezone": city.timezone,
        "city": {"name": city.name},
    }
    if city.state is not None:
        body["state"] = {"name": city.state, "stateCode": city.state_code}
    body |= {
        "country": {"name": city.country_tm, "countryCode": city.country_code},
        "address": {"line1": venue.address},
        # Strings, as the API sends them (the 2017 schema says number).
        "location": {"longitude": venue.longitude, "latitude": venue.latitude},
        "markets": [{"name": city.market, "id": city.market_id}],
        "dmas": [{"id": city.dma_id}],
        "upcomingEvents": {"_total": venue.upcoming_total, "ticketmaster": venue.upcoming_total,
                           "_filtered": 0},
        "_links": {"self": {"href": f"{PREFIX}/venues/{venue.ticketmaster_id}?locale={LOCALE}"}},
    }  # fmt: skip
    return body


def _iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_json(state: SimState, artist: ArtistProfile, event: Event) -> Json:
    venue = event.venue
    start: Json
    if event.start is None:
        start = {"dateTBD": False, "dateTBA": True, "timeTBA": True, "noSpecificTime": False}
        sale_end = event.sale_start + dt.timedelta(days=365)
    else:
        start = {
            "localDate": f"{event.start:%Y-%m-%d}",
            "localTime": f"{event.start:%H:%M:%S}",
            "dateTime": _iso_utc(utc(event.start, venue)),
            "dateTBD": False,
            "dateTBA": False,
            "timeTBA": False,
            "noSpecificTime": False,
        }
        sale_end = utc(event.start, venue)
    dates: Json = {
        "start": start,
        "timezone": venue.city.timezone,
        "status": {"code": event.status},
        "spanMultipleDays": False,
    }
    if event.initial_start is not None:
        dates["initialStartDate"] = {
            "localDate": f"{event.initial_start:%Y-%m-%d}",
            "localTime": f"{event.initial_start:%H:%M:%S}",
            "dateTime": _iso_utc(utc(event.initial_start, venue)),
        }
    attractions = [attraction_json(state, artist)]
    attractions += [attraction_json(state, guest) for guest in event.supports]
    promoter_id, promoter_name = event.promoter
    promoter = {"id": promoter_id, "name": promoter_name, "description": f"{promoter_name} / USA"}
    day = f"{event.start or event.initial_start or event.sale_start:%m-%d-%Y}"
    body: Json = {
        "name": event.name,
        "type": "event",
        "id": event.ticketmaster_id,
        "test": False,
        "url": (
            f"https://www.ticketmaster.com/{slug(event.name)}-{slug(venue.city.name)}-{day}"
            f"/event/{event.url_key}"
        ),
        "locale": LOCALE,
        "images": _images(
            state.catalog.ids.hex_id("event-image", event.ticketmaster_id, length=12)
        ),
        "sales": {
            "public": {
                "startDateTime": _iso_utc(event.sale_start),
                "startTBD": False,
                "startTBA": False,
                "endDateTime": _iso_utc(sale_end),
            }
        },
        "dates": dates,
        "classifications": [_classification(artist.tm_genre)],
        "promoter": promoter,
        "promoters": [promoter],
    }
    if event.price_range is not None:
        low, high = event.price_range
        body["priceRanges"] = [{"type": "standard", "currency": "USD", "min": low, "max": high}]
    body["seatmap"] = {
        "staticUrl": f"https://maps.ticketmaster.com/maps/geometry/3/event/{event.url_key}/staticImage?type=png",
        "id": "seatmap",
    }
    body["_links"] = {
        "self": {"href": f"{PREFIX}/events/{event.ticketmaster_id}?locale={LOCALE}"},
        "attractions": [
            {"href": f"{PREFIX}/attractions/{a['id']}?locale={LOCALE}"} for a in attractions
        ],
        "venues": [{"href": f"{PREFIX}/venues/{venue.ticketmaster_id}?locale={LOCALE}"}],
    }
    body["_embedded"] = {"venues": [venue_json(venue)], "attractions": attractions}
    return body
