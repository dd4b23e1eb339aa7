import { Body, Catch, Controller, Get, Module, Post } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { IsString } from 'class-validator';
import request from 'supertest';

import { HttpErrorFilter } from '../http/http-error.filter';
import { configureServiceApp } from './service-app.setup';

class NoteDto {
  @IsString()
  text!: string;
}

@Controller('notes')
class NotesController {
  @Post()
  create(@Body() note: NoteDto): NoteDto {
    return note;
  }

  @Get('broken')
  broken(): never {
    throw new Error('boom');
  }
}

@Module({ controllers: [NotesController] })
class NotesModule {}

@Catch()
class TeapotFilter extends HttpErrorFilter {
  protected override toBody() {
    return { statusCode: 418, message: 'teapot' };
  }
}

async function appWith(service: Parameters<typeof configureServiceApp>[1]) {
  const moduleRef = await Test.createTestingModule({ imports: [NotesModule] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await configureServiceApp(app, service).init();
  return app;
}

describe('configureServiceApp', () => {
  it('serves under /api/<name>, refuses unknown fields and answers errors as { statusCode, message }', async () => {
    const app = await appWith({ name: 'memo' });
    const http = app.getHttpServer();

    await request(http).post('/api/memo/notes').send({ text: 'hi' }).expect(201, { text: 'hi' });
    const refused = await request(http).post('/api/memo/notes').send({ text: 'hi', admin: true });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ statusCode: 400, message: 'property admin should not exist' });
    await request(http).post('/api/notes').send({ text: 'hi' }).expect(404);
    await request(http).post('/notes').send({ text: 'hi' }).expect(404);
    await app.close();
  });

  it("uses the service's own error filter and runs its own configure step", async () => {
    const configured: string[] = [];
    const app = await appWith({
      name: 'memo',
      errorFilter: TeapotFilter,
      configure: () => configured.push('memo'),
    });
    await request(app.getHttpServer()).get('/api/memo/notes/broken').expect(418);
    expect(configured).toEqual(['memo']);
    await app.close();
  });
});
