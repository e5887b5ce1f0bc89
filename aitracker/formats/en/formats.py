"""English dates as the site has always shown them: "11 Feb 2025" (Django's English default is "Feb. 11, 2025").

French ("11 février 2025") and Chinese ("2025年2月11日") use Django's own formats for their language."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
