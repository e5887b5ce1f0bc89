{% load i18n static %}<?xml version="1.0" encoding="utf-8"?>
{% get_current_language as LANGUAGE_CODE %}<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:atom="http://www.w3.org/2005/Atom" exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="utf-8" doctype-system="about:legacy-compat"/>
  {# A page for people who open a feed in their browser; feed readers read the XML itself and ignore this. #}
  <xsl:template match="/atom:feed">
    <html lang="{{ LANGUAGE_CODE }}">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="robots" content="noindex"/>
        <title><xsl:value-of select="atom:title"/></title>
        <link rel="stylesheet" href="{% static 'css/site.css' %}"/>
      </head>
      <body>
        <header class="site-header">
          <div class="wrap header-inner">
            <a class="brand" href="{% url 'dashboard' %}"><img src="{% static 'img/favicon.svg' %}" alt="" width="28" height="28"/><span>aitracker</span></a>
          </div>
        </header>
        <main id="main" class="wrap feed-page">
          <h1><xsl:value-of select="atom:title"/></h1>
          <p class="lead"><xsl:value-of select="atom:subtitle"/></p>
          <section class="feed-about" aria-labelledby="feed-about">
            <h2 id="feed-about">{% translate "This is a web feed: subscribe to be told of every new update" %}</h2>
            <p>{% translate "Your browser shows it as a page, but it is meant for a feed reader. Copy this address into your feed reader (for example Thunderbird, NetNewsWire, Feedly or Inoreader) and it will show you each progress update as soon as it is published:" %}</p>
            <p><code class="feed-address"><xsl:value-of select="atom:link[@rel='self']/@href"/></code></p>
            <p><a><xsl:attribute name="href"><xsl:value-of select="atom:link[@rel='alternate']/@href"/></xsl:attribute>{% translate "Read the same updates on the website" %}</a></p>
          </section>
          <h2>{% translate "Latest entries" %}</h2>
          <xsl:choose>
            <xsl:when test="atom:entry">
              <ol class="feed-entries">
                <xsl:for-each select="atom:entry">
                  <li>
                    <h3><a><xsl:attribute name="href"><xsl:value-of select="atom:link[@rel='alternate']/@href"/></xsl:attribute><xsl:value-of select="atom:title"/></a></h3>
                    <p class="meta"><time><xsl:attribute name="datetime"><xsl:value-of select="atom:updated"/></xsl:attribute><xsl:value-of select="substring(atom:updated, 1, 10)"/></time></p>
                    {# The summaries are HTML that aitracker sanitised when it was written. #}
                    <div class="feed-summary"><xsl:value-of select="atom:summary" disable-output-escaping="yes"/></div>
                  </li>
                </xsl:for-each>
              </ol>
            </xsl:when>
            <xsl:otherwise><p>{% translate "No progress update has been published here yet. Subscribe anyway: your reader will show the first one." %}</p></xsl:otherwise>
          </xsl:choose>
        </main>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
