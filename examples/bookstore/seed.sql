-- Sample rows for the bookstore example (make demo loads them after prodata migrate). Idempotent: rows are
-- inserted by id and skipped when present, then each identity is moved past the largest id so that rows
-- created through the API get new ones.
BEGIN;

INSERT INTO author (id, name, email, born, website) VALUES
    (1, 'Ursula K. Le Guin', 'ursula@example.org', '1929-10-21', 'https://www.ursulakleguin.com'),
    (2, 'Gabriel García Márquez', 'gabo@example.org', '1927-03-06', NULL),
    (3, 'Chimamanda Ngozi Adichie', 'chimamanda@example.org', '1977-09-15', NULL),
    (4, 'Haruki Murakami', 'murakami@example.org', '1949-01-12', NULL),
    (5, 'Anonymous', 'anonymous@example.org', NULL, NULL)
ON CONFLICT (id) DO NOTHING;

INSERT INTO tag (id, name) VALUES
    (1, 'fantasy'), (2, 'science-fiction'), (3, 'magical-realism'), (4, 'literary'), (5, 'classic')
ON CONFLICT (id) DO NOTHING;

INSERT INTO book (id, title, author_id, price, published, in_stock, meta, status) VALUES
    (1, 'A Wizard of Earthsea', 1, 9.99, '1968-11-01 00:00:00+00', true, '{"pages": 183}', 'published'),
    (2, 'The Left Hand of Darkness', 1, 12.50, '1969-03-01 00:00:00+00', true, '{"pages": 286}', 'published'),
    (3, 'The Dispossessed', 1, 14.00, '1974-05-01 00:00:00+00', false, NULL, 'published'),
    (4, 'Cien años de soledad', 2, 15.90, '1967-05-30 00:00:00+00', true, '{"language": "es"}', 'published'),
    (5, 'El amor en los tiempos del cólera', 2, 13.20, '1985-09-05 00:00:00+00', true, NULL, 'published'),
    (6, 'Half of a Yellow Sun', 3, 11.75, '2006-08-11 00:00:00+00', true, NULL, 'published'),
    (7, 'Americanah', 3, 16.00, '2013-05-14 00:00:00+00', true, '{"awards": ["NBCC"]}', 'published'),
    (8, 'Norwegian Wood', 4, 10.40, '1987-09-04 00:00:00+00', true, NULL, 'published'),
    (9, 'Kafka on the Shore', 4, 13.60, '2002-09-12 00:00:00+00', false, NULL, 'published'),
    (10, '1Q84', 4, 19.99, '2009-05-29 00:00:00+00', true, '{"volumes": 3}', 'published'),
    (11, 'Beowulf', 5, 0, '1000-01-01 00:00:00+00', true, NULL, 'published'),
    (12, 'Untitled Manuscript', 5, 0, '2026-11-01 12:00:00+00', false, NULL, 'draft')
ON CONFLICT (id) DO NOTHING;

INSERT INTO book_tags (book_id, tag_id)
SELECT b, t FROM (VALUES (1, 1), (1, 5), (2, 2), (2, 5), (3, 2), (4, 3), (4, 4), (4, 5), (5, 3), (6, 4),
                         (7, 4), (8, 4), (9, 3), (10, 3), (10, 2), (11, 5)) AS pairs (b, t)
WHERE NOT EXISTS (SELECT 1 FROM book_tags WHERE book_id = pairs.b AND tag_id = pairs.t);

INSERT INTO book_review (id, book_id, reviewer, rating, body, created) VALUES
    (1, 1, 'ged@example.com', 5, 'To light a candle is to cast a shadow.', '2026-01-05 10:00:00+00'),
    (2, 4, 'remedios@example.com', 5, 'Macondo, siempre.', '2026-02-14 18:30:00+00'),
    (3, 8, 'toru@example.com', 4, '', '2026-03-01 08:15:00+00'),
    (4, 10, 'aomame@example.com', 3, 'Two moons, three volumes.', '2026-04-20 21:45:00+00')
ON CONFLICT (id) DO NOTHING;

SELECT setval(pg_get_serial_sequence('author', 'id'), GREATEST((SELECT max(id) FROM author), 1));
SELECT setval(pg_get_serial_sequence('tag', 'id'), GREATEST((SELECT max(id) FROM tag), 1));
SELECT setval(pg_get_serial_sequence('book', 'id'), GREATEST((SELECT max(id) FROM book), 1));
SELECT setval(pg_get_serial_sequence('book_tags', 'id'), GREATEST((SELECT max(id) FROM book_tags), 1));
SELECT setval(pg_get_serial_sequence('book_review', 'id'), GREATEST((SELECT max(id) FROM book_review), 1));

COMMIT;
